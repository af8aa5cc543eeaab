"""Errors a tool reports to its caller: each message says what was wrong and what to do."""

from mcp.server.mcpserver.exceptions import ToolError


class NotFound(ToolError):
    """The id does not exist for this user (another user's id answers exactly the same)."""


class StorageUnavailable(ToolError):
    """The database cannot be reached; nothing was changed."""

    def __init__(self) -> None:
        super().__init__("Storage unavailable, try again in a moment. Nothing was changed.")


class InvalidArguments(ToolError):
    """Arguments that are each valid but do not fit together."""
