"""Where this server works around its libraries (the MCP Python SDK 2.3, uvicorn), each piece with the upstream
issue it answers. The SDK's private attributes are read here and nowhere else.

tests/mcp_server/test_workarounds.py pins each one against the library as installed: it fails when a private
attribute is gone, and when the library has fixed the problem (then the workaround can go).
"""

import asyncio
import socket
import types
import typing
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool as RegisteredTool
from mcp.shared.inbound import x_mcp_header_map
from pydantic import ConfigDict
from uvicorn.protocols.http.auto import AutoHTTPProtocol

TOOL_ERROR_PREFIX = "Error executing tool {name}: "  # what the SDK puts before a tool's own ToolError message


def registered_tools(mcp: MCPServer[Any]) -> list[RegisteredTool]:
    """The SDK's record of each registered tool (function, argument model, schema). The SDK has no public way to
    reach a tool's argument model, which the two fixes below change."""
    return mcp._tool_manager.list_tools()


def registered_tool(mcp: MCPServer[Any], name: str) -> RegisteredTool | None:
    return mcp._tool_manager.get_tool(name)


def refuse_unknown_arguments(mcp: MCPServer[Any]) -> None:
    """The SDK's argument models ignore arguments no parameter declares (modelcontextprotocol/python-sdk#3067, open;
    fix proposed in #3068), so `add_task(completed=true)` or `list_tasks(statuss="done")` would succeed without
    doing what was asked. Each tool's model forbids them instead, and its published input schema is regenerated
    from that model (`additionalProperties: false`): the schema a client or model sees is the one enforced."""
    for tool in registered_tools(mcp):
        metadata = tool.fn_metadata
        base = metadata.arg_model

        class Strict(base):  # type: ignore[valid-type, misc]
            model_config = ConfigDict(extra="forbid", title=base.__name__)

        metadata.arg_model = Strict
        tool.parameters = Strict.model_json_schema(by_alias=True)


def _is_text(annotation: Any) -> bool:
    """str, or an Annotated/Optional str."""
    if annotation is str:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _is_text(args[0])
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        return bool(options) and all(_is_text(arg) for arg in options)
    return False


def keep_text_as_text(mcp: MCPServer[Any]) -> None:
    """The SDK decodes a string argument that looks like JSON ('null', '[1, 2]') unless the parameter's annotation is
    exactly `str` (modelcontextprotocol/python-sdk#1113 stopped it for a bare `str` only; #1873 is the same family);
    for our optional and annotated text parameters that would change what the caller wrote (a title of 'null'
    would mean "unchanged"). Text parameters keep the caller's string; lists (tags, messages) are still decoded."""
    for tool in registered_tools(mcp):
        metadata = tool.fn_metadata
        text = {name for name, field in metadata.arg_model.model_fields.items() if _is_text(field.annotation)}
        decode = metadata.pre_parse_json

        def pre_parse(data: dict[str, Any], decode: Any = decode, text: set[str] = text) -> dict[str, Any]:
            return {key: data[key] if key in text else value for key, value in decode(data).items()}

        object.__setattr__(metadata, "pre_parse_json", pre_parse)


def check_headers_only_where_declared(mcp: MCPServer[Any]) -> None:
    """On every tools/call the SDK compares the request's Mcp-Param-* headers with its arguments, walking the
    tool's whole input schema twice (shared/inbound.py: validate_mcp_param_headers) to find the properties
    annotated `x-mcp-header` (no upstream issue: the walk is per call by design). A schema without such
    annotations has nothing to compare, and the SDK answers "nothing to check" when the schema lookup it asks
    gives None. So the lookup gives each annotated tool's schema and None for the others, found once here: the
    same verdicts without the walk (server CPU per call at 10 connections, one bench.server run, medians of 4
    rounds: list_tasks 1.97 -> 1.70 ms, add_task 1.77 -> 1.44 ms)."""
    server = mcp._lowlevel_server
    lookup = server.get_tool_input_schema
    declared = {tool.name for tool in registered_tools(mcp) if x_mcp_header_map(tool.parameters)}

    def annotated_schema(name: str) -> Any:
        return lookup(name) if lookup is not None and name in declared else None

    server.get_tool_input_schema = annotated_schema


def tool_refusal(name: str, error: ToolError) -> ToolError | None:
    """A tool's own refusal without the SDK's "Error executing tool <name>: " prefix (tools/base.py wraps every
    ToolError a tool raises, by design: no upstream issue), so the caller reads our sentence alone. None when the
    error is not a tool's own ToolError."""
    cause = error.__cause__
    if isinstance(cause, ToolError):
        return ToolError(str(cause))
    return None


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol with TCP_NODELAY on every connection (Kludex/uvicorn#3149, open).

    With several workers uvicorn binds the listening socket itself, without IPPROTO_TCP, so asyncio does not set
    TCP_NODELAY on the connections it accepts; a response written as headers, then body, then waits for the
    client's delayed ACK: 40 ms per call (measured: 48 ms p50 at 1 client with MCP_WORKERS=2, against 1.8 ms).
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
