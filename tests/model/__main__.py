"""Score the model tier outside pytest, for comparing prompts and settings: one embedded Postgres, the MCP
server and llama-server, then every scenario under each variant, in one run.

    python -m tests.model                                          # the settings as built
    python -m tests.model --variant no-text-calls --set read_calls_from_text=false
    python -m tests.model --variant short-prompt --prompt-file /tmp/prompt.txt
    python -m tests.model --variant template --llama-arg=--chat-template-file --llama-arg=/tmp/template.jinja
"""

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path

from app.client import McpConnection
from devtools.llm import LlamaServer
from devtools.postgres import LocalPostgres
from devtools.servers import McpProcess
from mcp_server.db import Database
from mcp_server.migrate import upgrade
from mcp_server.settings import sqlalchemy_url
from tests.model.support import SCORE_FILE, model_settings, run_all


def setting(item: str) -> tuple[str, object]:
    """FIELD=VALUE, the value read as JSON where it is JSON (false, 0.5, ["a"]), else as text."""
    name, _, text = item.partition("=")
    try:
        return name, json.loads(text)
    except ValueError:
        return name, text


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.model", description=__doc__)
    parser.add_argument("--variant", default="as built", help="a name for this run in the report")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a UISettings field")
    parser.add_argument("--prompt-file", type=Path, help="a system prompt to use instead of the built-in one")
    parser.add_argument("--llama-arg", action="append", default=[], help="an argument for llama-server")
    parser.add_argument("--only", action="append", default=[], help="run only scenarios whose name holds this")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop the servers it started
    overrides = dict(setting(item) for item in options.set)
    if options.prompt_file is not None:
        overrides["system_prompt"] = options.prompt_file.read_text()

    from tests.model.scenarios import SCENARIOS

    scenarios = tuple(s for s in SCENARIOS if not options.only or any(o in s.name for o in options.only))
    with tempfile.TemporaryDirectory(prefix="model-tier-") as folder, LocalPostgres(Path(folder) / "pg") as pg:
        db = Database(sqlalchemy_url(pg.url))
        upgrade(db.engine)
        db.dispose()
        with McpProcess(pg.url) as server, LlamaServer(extra=tuple(options.llama_arg)) as llama:
            connection = McpConnection(server.url, server.service_token, timeout=60)
            report = run_all(model_settings(llama.base_url, **overrides), connection, options.variant, scenarios)
            connection.close()
    print(report.table())
    report.write(SCORE_FILE.with_name(f"model-score-{options.variant.replace(' ', '-')}.json"))


if __name__ == "__main__":
    main()
