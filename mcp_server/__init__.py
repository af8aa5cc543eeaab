"""The MCP tool server: tasks and conversations in Postgres, served over streamable HTTP."""
