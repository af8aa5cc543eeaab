# One command per job. `make run` starts the product; `make test` installs what the tests need and runs them all.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-images test-model images bench bench-load bench-page lint format deps system-deps model-deps clean

$(STAMP): requirements.txt requirements/mcp.txt requirements/ui.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

deps: $(STAMP)

## The whole product on embedded defaults: embedded Postgres, MCP server, Streamlit page on :8501.
run: $(STAMP)
	$(PY) -m devtools.run

## Everything CI runs: system packages (chromium, podman, node), the local model, lint, then every test.
test: $(STAMP) system-deps model-deps lint
	$(PY) -m pytest

## The tests that need no browser, no podman and no local model.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not browser and not images and not model"

## The chat with a real small model (llama.cpp), with its score table.
test-model: $(STAMP) model-deps
	$(PY) -m pytest -m model -s

test-images: $(STAMP) system-deps
	$(PY) -m pytest -m images

## Both images, tagged as helm/values-minikube.yaml expects. Behind a TLS-intercepting proxy: EXTRA_CA=/path/ca.pem
CONTAINER ?= podman
IMAGE_TAG ?= dev
BUILD_ARGS ?=
comma := ,
CA_SECRET = $(if $(EXTRA_CA),--secret id=extra_ca$(comma)src=$(EXTRA_CA))
images:
	$(CONTAINER) build -f Dockerfile.mcp -t todo-chatbot-mcp:$(IMAGE_TAG) $(CA_SECRET) $(BUILD_ARGS) .
	$(CONTAINER) build -f Dockerfile.ui -t todo-chatbot-ui:$(IMAGE_TAG) $(CA_SECRET) $(BUILD_ARGS) .

system-deps:
	bash tests/setup_system.sh

## llama-server built from source and the 1.5B model assembled and checked, once per machine (~5 min cold).
model-deps: $(STAMP)
	$(PY) -m devtools.llm prepare

## The tool server under a Node load generator (calls/s, latency, server and Postgres CPU per call, new
## connections, beside the HTTP and SQL floors), a chat turn's overhead, the caller's cost (~10 min).
bench: $(STAMP)
	$(PY) -m bench

## 100 simulated users through the real agent, MCP server and Postgres, and the saturation curve (~4 min).
bench-load: $(STAMP)
	$(PY) -m bench.load

## The page in headless chromium at 0, 50 and 200 stored messages: turn, filter, conversation switch, reload (~4 min).
bench-page: $(STAMP)
	$(PY) -m bench.page

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts
