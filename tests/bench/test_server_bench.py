"""bench.server's load generator (bench/server_load/loadgen.mjs) checks every answer: against a stand-in server on
loopback that answers wrongly, it counts errors and the bench reports them; against one that answers right, none.
(A real server is driven by the SMALLEST run in test_benchmarks_run.py.)"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from app.client import PROTOCOL_VERSION, REQUEST_META, USER_HEADER
from bench.common import SERVICE_TOKEN
from bench.server import ROOT, Way, failures, loadgen_config, run_loadgen
from tests.support import serving_http


def task(number: int) -> dict[str, Any]:
    return {"id": number, "title": f"task {number}", "priority": "high", "tags": ["bench"], "completed": False}


class StandIn(BaseHTTPRequestHandler):
    """Answers tools/call as the MCP server would, but wrongly in the way `mode` says."""

    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    mode = "ok"
    first: ClassVar[dict[str, Any]] = {}  # the first request's headers and body
    lock = threading.Lock()
    added: ClassVar[dict[str, int]] = {}  # tasks per user

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            if not self.first:
                self.first.update(headers=dict(self.headers), body=request)
            user = self.headers[USER_HEADER]
            self.added[user] = self.added.get(user, 0) + 1
            number = self.added[user]
        content = task(number) if request["params"]["name"] == "add_task" else {"tasks": [], "total": 0}
        result = {"content": [{"type": "text", "text": json.dumps(content)}], "isError": False}
        result["structuredContent"] = content
        answer = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        status = 200
        if self.mode == "is_error":
            result["isError"] = True
        elif self.mode == "wrong_id":
            answer["id"] = request["id"] + 1
        elif self.mode == "http_500":
            status = 500
        elif self.mode == "wrong_number":
            content["id"] = number + 1
        self.send_json(status, answer)

    def send_json(self, status: int, answer: dict[str, Any]) -> None:
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[tuple[str, type[StandIn]]]:
    handler = type("Handler", (StandIn,), {"first": {}, "added": {}})
    with serving_http(handler) as base_url:
        yield f"{base_url}/mcp", handler


def run(url: str, tool: str) -> dict[str, Any]:
    config = loadgen_config([url], tool, connections=2, duration=1, warmup=0, user_prefix="test")
    return run_loadgen(config, timeout=60)  # waits for the load generator to exit


@pytest.mark.parametrize(
    ("mode", "tool", "what"),
    [
        ("is_error", "add_task", "isError"),
        ("wrong_id", "list_tasks", "expected"),
        ("http_500", "add_task", "HTTP 500"),
        ("wrong_number", "add_task", "task number"),
    ],
)
def test_a_wrong_answer_is_an_error(stand_in: tuple[str, type[StandIn]], mode: str, tool: str, what: str) -> None:
    url, handler = stand_in
    handler.mode = mode
    report = run(url, tool)
    assert report["errors"] > 0
    assert report["error_samples"] and all(what in sample["what"] for sample in report["error_samples"])
    problem = failures(report)
    assert problem is not None and "failed answers" in problem


def test_right_answers_pass_and_carry_what_the_page_sends(stand_in: tuple[str, type[StandIn]]) -> None:
    url, handler = stand_in
    report = run(url, "add_task")
    assert report["errors"] == 0 and report["calls"] > 0, report
    assert failures(report) is None
    headers = {name.lower(): value for name, value in handler.first["headers"].items()}
    assert headers["authorization"] == f"Bearer {SERVICE_TOKEN}"
    assert headers[USER_HEADER.lower()] in ("test-0", "test-1")
    assert headers["mcp-method"] == "tools/call" and headers["mcp-name"] == "add_task"
    assert headers["mcp-protocol-version"] == PROTOCOL_VERSION
    assert headers["accept"] == "application/json, text/event-stream"
    assert headers["content-type"] == "application/json"
    body = handler.first["body"]
    assert body["method"] == "tools/call" and body["params"]["_meta"] == REQUEST_META
    assert body["params"]["arguments"] == {"title": f"task {body['id']}", "priority": "high", "tags": ["bench"]}


def test_a_way_of_serving_is_read_from_its_text_and_a_wrong_one_says_what_to_write(tmp_path: Path) -> None:
    assert Way.parse(".:w2:r3") == Way(ROOT, workers=2, replicas=3)
    assert Way.parse(str(ROOT)) == Way(ROOT)
    with pytest.raises(ValueError, match="write wN"):
        Way.parse(".:x2")
    with pytest.raises(ValueError, match="write wN"):
        Way.parse(".:w0")
    with pytest.raises(ValueError, match="not a checkout"):
        Way.parse(str(tmp_path))
