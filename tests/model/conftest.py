"""The model tier's one slow part: llama-server with the 1.5B model, started once for the session."""

from collections.abc import Iterator

import pytest

from devtools.llm import LlamaServer


@pytest.fixture(scope="session")
def llama() -> Iterator[LlamaServer]:
    with LlamaServer() as server:
        yield server
