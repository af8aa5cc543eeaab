"""Each workaround in mcp_server/workarounds.py against the libraries as installed: the private attributes it
reads are still there, and the upstream problem it answers is still there. A failure here after an upgrade says
which workaround to revisit; when the library has fixed the problem, remove the workaround and its test."""

import socket
from typing import Annotated, Any

import pytest
import uvicorn
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import x_mcp_header_map
from mcp.types import INVALID_PARAMS
from pydantic import Field, ValidationError

from mcp_server import workarounds
from mcp_server.auth import Authenticator
from mcp_server.db import Database
from mcp_server.server import build_server
from mcp_server.settings import Settings

pytestmark = pytest.mark.anyio


def plain_server() -> MCPServer[Any]:
    """A server as the SDK makes it, with none of our workarounds."""
    mcp: MCPServer[Any] = MCPServer(name="plain")

    @mcp.tool()
    def rename(
        title: Annotated[str | None, Field(description="new title")] = None, tags: list[str] | None = None
    ) -> str:
        return f"{title!r} {tags}"

    @mcp.tool()
    def refuse() -> str:
        raise ToolError("No such task.")

    return mcp


def test_the_sdk_still_keeps_registered_tools_where_the_workarounds_read_them() -> None:
    mcp = plain_server()
    [first, _] = workarounds.registered_tools(mcp)
    assert workarounds.registered_tool(mcp, "rename") is first
    assert workarounds.registered_tool(mcp, "nope") is None
    metadata = first.fn_metadata
    assert callable(metadata.pre_parse_json) and set(metadata.arg_model.model_fields) == {"title", "tags"}
    assert first.parameters["properties"].keys() == {"title", "tags"}


def test_the_sdk_still_ignores_unknown_arguments() -> None:
    """python-sdk#3067: when this fails, the SDK refuses them itself; drop refuse_unknown_arguments."""
    arguments = workarounds.registered_tool(plain_server(), "rename").fn_metadata.arg_model  # type: ignore[union-attr]
    assert arguments.model_validate({"tags": [], "statuss": "done"}).tags == [], "the unknown argument was ignored"
    assert "additionalProperties" not in arguments.model_json_schema()


def test_refuse_unknown_arguments_refuses_them_and_publishes_so() -> None:
    mcp = plain_server()
    workarounds.refuse_unknown_arguments(mcp)
    tool = workarounds.registered_tool(mcp, "rename")
    assert tool is not None
    with pytest.raises(ValidationError, match="statuss"):
        tool.fn_metadata.arg_model.model_validate({"tags": [], "statuss": "done"})
    assert tool.parameters["additionalProperties"] is False


def test_the_sdk_still_decodes_text_that_looks_like_json_for_an_optional_str() -> None:
    """python-sdk#1113 keeps only a bare `str` as text: when this fails, keep_text_as_text can go."""
    tool = workarounds.registered_tool(plain_server(), "rename")
    assert tool is not None
    assert tool.fn_metadata.pre_parse_json({"title": "null", "tags": '["a"]'}) == {"title": None, "tags": ["a"]}


def test_keep_text_as_text_keeps_the_callers_string_and_still_decodes_the_rest() -> None:
    mcp = plain_server()
    workarounds.keep_text_as_text(mcp)
    tool = workarounds.registered_tool(mcp, "rename")
    assert tool is not None
    assert tool.fn_metadata.pre_parse_json({"title": "null", "tags": '["a"]'}) == {"title": "null", "tags": ["a"]}


async def test_the_sdk_still_prefixes_a_tools_own_refusal() -> None:
    with pytest.raises(ToolError) as raised:
        await plain_server().call_tool("refuse", {})
    assert str(raised.value) == workarounds.TOOL_ERROR_PREFIX.format(name="refuse") + "No such task."
    refusal = workarounds.tool_refusal("refuse", raised.value)
    assert refusal is not None and str(refusal) == "No such task."


async def test_the_sdk_still_answers_an_unknown_prompt_with_an_internal_error() -> None:
    """python-sdk#1872: when this fails, the SDK answers INVALID_PARAMS itself; drop TodoMCPServer.get_prompt."""
    with pytest.raises(Exception) as raised:
        await plain_server().get_prompt("nope")
    assert not (isinstance(raised.value, MCPError) and raised.value.error.code == INVALID_PARAMS)


def test_uvicorn_still_binds_its_own_listening_socket_without_ipproto_tcp() -> None:
    """Kludex/uvicorn#3149 (what NoDelayHTTPProtocol answers): when this fails, several workers get TCP_NODELAY
    from asyncio again and NoDelayHTTPProtocol can go (tests/mcp_server/test_http_protocol.py measures both)."""
    sock = uvicorn.Config("mcp_server.server:app_from_environment", host="127.0.0.1", port=0).bind_socket()
    try:
        assert sock.proto != socket.IPPROTO_TCP
    finally:
        sock.close()


def test_header_checks_stay_for_a_tool_that_declares_a_header_and_go_for_one_that_declares_none() -> None:
    mcp = plain_server()

    @mcp.tool()
    def route(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        return region

    workarounds.check_headers_only_where_declared(mcp)
    lookup = mcp._lowlevel_server.get_tool_input_schema
    assert lookup is not None
    assert lookup("route") == workarounds.registered_tool(mcp, "route").parameters  # type: ignore[union-attr]
    assert lookup("rename") is None
    assert lookup("no such tool") is None


def test_no_tool_of_this_server_declares_a_header_so_its_calls_skip_no_check() -> None:
    settings = Settings.model_validate(
        {"database_url": "postgresql://nowhere/todo", "mcp_service_token_sha256": "0" * 64}
    )
    db = Database(settings.sqlalchemy_url)
    mcp = build_server(db, settings, Authenticator(settings.mcp_service_token_sha256, db))
    assert [t.name for t in workarounds.registered_tools(mcp) if x_mcp_header_map(t.parameters)] == []
