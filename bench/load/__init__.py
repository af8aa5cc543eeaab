"""Load: many simulated chat users at once through the real agent, the real MCP server over HTTP and Postgres.

Each simulated user has their own conversation and takes a turn after an exponential think time (mean 5 s:
one turn every 5 s on average, counted from the end of their previous answer, as a person waits for the reply
before typing again). A turn is `Agent.run_turn`, exactly as the page runs it: store the user's message and
read the history (one MCP call), a streamed model round that calls one task tool (list, add, complete or update) through the real
MCP server and Postgres, a second streamed round that answers the tool result with a short text, store the
turn. Each conversation starts with `--history` earlier turns, so every turn reads and sends a full history
(HISTORY_MESSAGES, 40 by default), as in a conversation that has been going for a while. The model is the
test model server (devtools/fake_model.py) in its own process, answering at once, and in a second run
after a fixed latency, to show that the UI tier does not serialise on the model.

Users run as threads of one UI process sharing ONE `McpConnection` and one `Agent`, as one Streamlit process
serves many sessions from its script threads; `--ui-processes K` splits them over K such processes.

Reported: per turn and per tool call (StepStarted -> StepFinished) p50/p95/p99, throughput and errors; "turn
overhead" = turn time minus the model's configured latency x its rounds in that turn; CPU used by each tier;
a saturation curve (10 -> 400 users, until the turn overhead's p99 passes the limit) printed and plotted to
artifacts/saturation.png and docs/saturation.png; the raw SQL floor at 1 client and at the same concurrency.
All traffic is loopback; every loop is bounded in turns and time.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: bench/load/__init__.py -> ../..
