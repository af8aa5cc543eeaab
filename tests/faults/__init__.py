"""Fault injection, end to end: the MCP server killed and restarted, Postgres stopped, a failing model, replicas."""
