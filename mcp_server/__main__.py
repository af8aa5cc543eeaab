"""`python -m mcp_server` serves the tools; `python -m mcp_server migrate` applies the migrations."""

import argparse
from typing import Any

import uvicorn

from mcp_server.db import Database
from mcp_server.migrate import upgrade
from mcp_server.observability import configure_logging
from mcp_server.server import build_app
from mcp_server.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mcp_server", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["serve", "migrate"], default="serve")
    command = parser.parse_args().command
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    db = Database.from_settings(settings)
    if command == "migrate" or settings.mcp_migrate_on_start:
        upgrade(db.engine)
    if command == "migrate":
        db.dispose()
        return
    if settings.mcp_workers > 1:
        db.dispose()  # each worker process opens its own pool
        app: Any = "mcp_server.server:app_from_environment"
    else:
        app = build_app(settings, db)
    uvicorn.run(
        app,
        factory=settings.mcp_workers > 1,
        workers=settings.mcp_workers,
        http="mcp_server.workarounds:NoDelayHTTPProtocol",
        host=settings.mcp_host,
        port=settings.mcp_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,  # keep the logging configured above (JSON by default)
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
