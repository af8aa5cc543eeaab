"""The MCP server and its HTTP app: tools on /mcp behind a bearer token, health and readiness beside it."""

import gc
import logging
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.auth import ProtectedResourceMetadata
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER
from mcp.types import INVALID_PARAMS, Tool
from pydantic import AnyHttpUrl, ValidationError
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from contract.tools import SIGNED_IN_ONLY_META
from mcp_server.auth import (
    TIMEZONE_HEADER,
    USER_HEADER,
    Authenticator,
    CallerMiddleware,
    caller,
    current_caller,
    origin_regex,
    resource_url,
)
from mcp_server.db import Database
from mcp_server.migrate import head_revision
from mcp_server.observability import RequestIdMiddleware, metrics_response, observe_tool_call, stamp_request_ids
from mcp_server.oidc import JwtVerifier
from mcp_server.settings import Settings
from mcp_server.tools import register_conversation_tools, register_task_tools, register_token_tools
from mcp_server.workarounds import (
    check_headers_only_where_declared,
    keep_text_as_text,
    refuse_unknown_arguments,
    registered_tool,
    tool_refusal,
)

log = logging.getLogger(__name__)
NAME_SHOWN = 40  # an unknown argument's name is quoted back at most this long
MCP_HEADERS = [MCP_PROTOCOL_VERSION_HEADER, MCP_METHOD_HEADER, MCP_NAME_HEADER, "mcp-session-id"]
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # append_messages at its limits (contract.limits.BATCH_LENGTH characters) fits

INSTRUCTIONS = (
    "Tools for your todo list and chat history. The server knows who you are from your token: every tool sees "
    "only your data. Tasks are numbered per user (task_id is that number)."
)


def describe_validation_error(tool: str, error: ValidationError, known: Sequence[str]) -> str:
    """One sentence per wrong field, without echoing the rejected values; unknown argument names come first, each
    shortened to NAME_SHOWN characters, with the names the tool knows."""
    problems, unknown = [], []
    for item in error.errors():
        if item["type"] == "extra_forbidden" and len(item["loc"]) == 1:
            unknown.append(shown_name(str(item["loc"][0])))
            continue
        field = ".".join(str(part) for part in item["loc"]) or "arguments"
        problems.append(f"{field}: {item['msg']}")
    if unknown:
        label = "unknown argument" if len(unknown) == 1 else "unknown arguments"
        problems.insert(0, f"{label} {', '.join(unknown)} (known: {', '.join(known)})")
    return f"Invalid arguments for {tool}: " + "; ".join(problems) + ". Nothing was changed; fix them and retry."


def shown_name(name: str) -> str:
    """An argument name as a refusal quotes it: cut to NAME_SHOWN characters, control characters escaped."""
    return repr(name if len(name) <= NAME_SHOWN else name[: NAME_SHOWN - 1] + "…")


class TodoMCPServer(MCPServer[Any]):
    async def list_tools(self) -> list[Tool]:
        """Every tool, but the token tools for personal tokens, which may not call them."""
        tools = await super().list_tools()
        who = current_caller()
        if who is not None and who.signed_in:
            return tools
        return [tool for tool in tools if not (tool.meta or {}).get(SIGNED_IN_ONLY_META)]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None) -> Any:
        """Report bad arguments and refused operations as plain sentences, without the SDK's prefix."""
        started = time.perf_counter()
        try:
            self._check_credential(name, context)
            result = await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            observe_tool_call(name, "crashed", started)
            raise
        except ToolError as exc:
            observe_tool_call(name, "refused", started)
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                tool = registered_tool(self, name)
                known = list(tool.parameters["properties"]) if tool else []
                raise ToolError(describe_validation_error(name, cause, known)) from cause
            refusal = tool_refusal(name, exc)
            if refusal is not None:
                raise refusal from cause
            raise
        observe_tool_call(name, "ok", started)
        return result

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[Any, Any] | None = None
    ) -> Any:
        """An unknown prompt is the caller's mistake: JSON-RPC's invalid-params error, as the MCP spec says, not the
        SDK's internal error with code 0 and a traceback in the log (modelcontextprotocol/python-sdk#1872, open)."""
        if name not in {prompt.name for prompt in await self.list_prompts()}:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {shown_name(name)} (this server has none)")
        return await super().get_prompt(name, arguments, context)

    def _check_credential(self, name: str, context: Context[Any, Any] | None) -> None:
        tool = registered_tool(self, name)
        if tool is None or not (tool.meta or {}).get(SIGNED_IN_ONLY_META):
            return
        if context is None or not caller(context).signed_in:
            raise ToolError(
                f"{name} is not for personal access tokens: they are created and revoked on the page (sidebar, API "
                "access), and a token cannot make or revoke tokens."
            )


def build_server(db: Database, settings: Settings, authenticator: Authenticator) -> TodoMCPServer:
    mcp = TodoMCPServer(
        name="todo",
        title="Todo tasks and conversations",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        log_level=settings.log_level,
    )
    register_task_tools(mcp, db)
    register_conversation_tools(mcp, db)
    register_token_tools(mcp, db, authenticator)
    refuse_unknown_arguments(mcp)
    keep_text_as_text(mcp)
    check_headers_only_where_declared(mcp)

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    expected_revision = head_revision()

    @mcp.custom_route("/readyz", methods=["GET"])
    async def readyz(request: Request) -> Response:
        try:
            revision = await db.schema_revision()
        except Exception as exc:  # any failure to reach the database means not ready
            log.warning("readiness check failed: %s", type(exc).__name__)
            return JSONResponse({"ready": False, "reason": "database unreachable"}, status_code=503)
        if revision != expected_revision:
            return JSONResponse(
                {"ready": False, "reason": f"schema at {revision}, expected {expected_revision}"},
                status_code=503,
            )
        return JSONResponse({"ready": True, "schema": revision})

    @mcp.custom_route("/metrics", methods=["GET"])
    async def metrics(request: Request) -> Response:
        return metrics_response(db.stats())

    return mcp


def publish_resource_metadata(mcp: TodoMCPServer, issuer: str, public_url: str | None) -> None:
    """RFC 9728 metadata naming the OpenID provider, where an MCP client looks after a 401: at the path-inserted
    URL of /mcp, and at the bare well-known URL for clients that look only there."""

    async def metadata(request: Request) -> Response:
        resource = resource_url(request.scope, public_url)
        document = ProtectedResourceMetadata(
            resource=AnyHttpUrl(resource),
            authorization_servers=[AnyHttpUrl(issuer)],
            resource_name="Todo tasks and conversations",
            bearer_methods_supported=["header"],
        ).model_dump(mode="json", exclude_none=True)
        # The URLs exactly as configured: pydantic adds a "/" to a bare origin, and an issuer is compared as a string.
        document.update(resource=resource, authorization_servers=[issuer])
        return JSONResponse(document)

    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        mcp.custom_route(path, methods=["GET"])(metadata)


def build_app(settings: Settings, db: Database | None = None) -> Starlette:
    """The ASGI app: stateless streamable HTTP with JSON responses, so any replica can answer any call; the caller
    of every /mcp request resolved from its credential (mcp_server/auth.py) before the SDK reads it."""
    db = db or Database.from_settings(settings)
    verifier = None
    if settings.mcp_oidc_issuer and settings.mcp_oidc_audience:
        verifier = JwtVerifier(
            settings.mcp_oidc_issuer,
            settings.mcp_oidc_audience,
            settings.mcp_oidc_user_claim,
            cooldown=settings.mcp_oidc_jwks_cooldown_seconds,
        )
    authenticator = Authenticator(settings.mcp_service_token_sha256, db, oidc=verifier)
    mcp = build_server(db, settings, authenticator)
    if verifier is not None:
        publish_resource_metadata(mcp, verifier.issuer, settings.mcp_public_url)
    app = mcp.streamable_http_app(
        stateless_http=True,
        json_response=True,
        max_request_body_size=MAX_REQUEST_BYTES,
        transport_security=TransportSecuritySettings(
            allowed_hosts=settings.host_patterns, allowed_origins=settings.origin_patterns
        ),
    )
    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        # What is loaded by now (modules, schemas, compiled statements) lives as long as the process: kept out of
        # the garbage collector's full passes, which would otherwise walk it again and again under load.
        gc.collect()
        gc.freeze()
        async with inner_lifespan(app) as state:
            yield state
        if verifier is not None:
            await verifier.aclose()
        await db.close()

    app.router.lifespan_context = lifespan
    app.add_middleware(
        CallerMiddleware,
        authenticator=authenticator,
        allowed_origins=settings.mcp_allowed_origins,
        public_url=settings.mcp_public_url,
    )
    # Browser-based MCP clients (the Inspector's direct mode) on an allowed origin; preflights need no token.
    app.add_middleware(
        CORSMiddleware,
        allow_origin_regex=origin_regex(settings.mcp_allowed_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=[
            *("authorization", "content-type", "accept", "last-event-id", "x-request-id", *MCP_HEADERS),
            *(USER_HEADER.lower(), TIMEZONE_HEADER.lower()),
        ],
        expose_headers=["www-authenticate", "x-request-id", "mcp-session-id"],
    )
    app.add_middleware(RequestIdMiddleware)
    stamp_request_ids()
    return app


def app_from_environment() -> Starlette:
    """The app with settings from the environment: uvicorn's factory for several worker processes."""
    from mcp_server.settings import get_settings

    return build_app(get_settings())
