"""Metrics (Prometheus) and structured logs with a request id carried from the UI (X-Request-ID)."""

import contextvars
import json
import logging
import time
import uuid
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.db import PoolStats

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
REQUEST_ID_HEADER = "x-request-id"

TOOL_CALLS = Counter("mcp_tool_calls_total", "Tool calls by tool and outcome", ["tool", "outcome"])
TOOL_SECONDS = Histogram(
    "mcp_tool_call_seconds",
    "Tool call latency in the server (arguments to result)",
    ["tool"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CALLERS = Counter(
    "mcp_requests_by_credential_total",
    "MCP requests let in, by the credential they came with (service, personal or oidc)",
    ["credential"],
)
POOL_CONNECTIONS = Gauge("mcp_db_pool_connections", "Database pool connections by state", ["state"])


def observe_tool_call(tool: str, outcome: str, started: float) -> None:
    """outcome: ok, refused (a tool error the caller can fix) or crashed."""
    TOOL_CALLS.labels(tool, outcome).inc()
    TOOL_SECONDS.labels(tool).observe(time.perf_counter() - started)


def metrics_response(pool: PoolStats) -> Response:
    POOL_CONNECTIONS.labels("checked_out").set(pool.checked_out)
    POOL_CONNECTIONS.labels("idle").set(pool.idle)
    POOL_CONNECTIONS.labels("size").set(pool.size)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (or makes one) for the logs of this request, and echoes it back."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Request(scope).headers.get(REQUEST_ID_HEADER, "")
        request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = REQUEST_ID.get()
    return record


def stamp_request_ids() -> None:
    """Every log record made from now on carries the request id of the request that made it."""
    logging.setLogRecordFactory(_record_with_request_id)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if level != "DEBUG":
        # The SDK logs every stateless request at INFO ("Terminating session"): noise, and CPU on the hot path.
        logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
