"""The model tier's commands as the README gives them: `python -m devtools.llm serve` answers as an OpenAI-compatible
endpoint, and `python -m tests.model` scores scenarios and writes its report."""

import json
import socket
import subprocess
import sys
import urllib.request

import pytest

from devtools.llm import MODEL_NAME
from devtools.servers import ROOT, free_port, wait_until_ready

pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]


def test_devtools_llm_serve_is_an_openai_compatible_endpoint() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "devtools.llm", "serve", "--port", str(port)], cwd=ROOT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/health", server, "python -m devtools.llm serve", 180)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as answer:
            models = json.load(answer)
        assert MODEL_NAME in [model["id"] for model in models["data"]]
    finally:
        server.terminate()
        server.wait(timeout=30)
    with pytest.raises(ConnectionRefusedError):  # nothing listens there: llama-server stopped with the command
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_python_m_tests_model_scores_a_variant() -> None:
    variant = "readme-example"
    report = ROOT / "artifacts" / f"model-score-{variant}.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "tests.model", "--variant", variant, "--only", "delete by number"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=800, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "score " in run.stdout and f"({variant})" in run.stdout
    summary = json.loads(report.read_text())["summary"]
    assert summary["total"] == 1 and summary["turns"] == 1
