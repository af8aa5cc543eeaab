"""Tools for development, in one place and in no image: a real PostgreSQL from a wheel (`postgres.py`), the
tool server as a process that is ready when it says so (`servers.py`), a scripted OpenAI-compatible model
server (`fake_model.py`), a real small model on llama.cpp (`llm.py`), a real OpenID provider on loopback
(`oidc.py`, with its node server in `oidc_provider/`) and the dev launcher behind `make run` (`run.py`). The
tests and the benchmarks use the same pieces."""
