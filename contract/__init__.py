"""The tools' contract, shared by the page (`app/`) and the tool server (`mcp_server/`) and owned by neither:
tool names and meta keys (`tools.py`), limits (`limits.py`), argument types and result models (`schemas.py`).

It imports pydantic alone, so the UI image carries it without anything of the server.
"""
