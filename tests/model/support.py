"""Runs the scenarios through the real agent and scores them: passed / total, and the seconds each turn took.

A turn the model could not answer (the agent then lets the offline assistant answer, with a notice) fails its
scenario: the score is the model's, never the offline assistant's.
"""

import datetime as dt
import json
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.agent import Agent, Notice, StepFinished, TextDelta
from app.client import McpConnection, TodoClient
from app.settings import UISettings
from devtools.llm import MODEL_NAME
from devtools.servers import ROOT
from tests.model.scenarios import SCENARIOS, Outcome, Scenario

SCORE_FILE = ROOT / "artifacts" / "model-score.json"


def model_settings(base_url: str, **overrides: Any) -> UISettings:
    """The page's settings for the local model: temperature 0 and a fixed seed, so a run can be repeated."""
    values: dict[str, Any] = {
        "openai_api_key": "local",
        "openai_base_url": base_url,
        "openai_model": MODEL_NAME,
        "temperature": 0.0,
        "model_seed": 42,
        "model_timeout": 300.0,
        "model_retries": 0,
        **overrides,
    }
    return UISettings.model_validate(values)


@dataclass
class Result:
    name: str
    passed: bool
    problem: str | None
    turn_seconds: list[float]
    steps: list[dict[str, Any]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@dataclass
class Report:
    variant: str
    results: list[Result]

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def turn_seconds(self) -> list[float]:
        return [seconds for result in self.results for seconds in result.turn_seconds]

    def summary(self) -> dict[str, Any]:
        turns = sorted(self.turn_seconds)
        return {
            "variant": self.variant,
            "passed": self.passed,
            "total": len(self.results),
            "turns": len(turns),
            "turn_p50_s": round(statistics.median(turns), 2) if turns else None,
            "turn_p95_s": round(turns[min(len(turns) - 1, int(len(turns) * 0.95))], 2) if turns else None,
            "turn_max_s": round(turns[-1], 2) if turns else None,
        }

    def table(self) -> str:
        lines = [f"{'scenario':44} {'result':6} {'turn s':>8}  problem"]
        for result in self.results:
            seconds = "+".join(f"{s:.1f}" for s in result.turn_seconds)
            mark = "pass" if result.passed else "FAIL"
            lines.append(f"{result.name:44} {mark:6} {seconds:>8}  {result.problem or ''}")
        s = self.summary()
        lines.append(
            f"score {s['passed']}/{s['total']} ({s['variant']}); turn p50 {s['turn_p50_s']} s, "
            f"p95 {s['turn_p95_s']} s, max {s['turn_max_s']} s over {s['turns']} turns"
        )
        return "\n".join(lines)

    def write(self, path: Path = SCORE_FILE) -> None:
        path.parent.mkdir(exist_ok=True)
        body = {"summary": self.summary(), "results": [asdict(result) for result in self.results]}
        path.write_text(json.dumps(body, indent=2, default=str) + "\n")


def today_utc() -> dt.date:
    """The server resolves date phrases in the caller's zone, UTC when none is sent: the agent's today too."""
    return dt.datetime.now(dt.UTC).date()


def run_scenario(agent: Agent, connection: McpConnection, scenario: Scenario) -> Result:
    client = TodoClient(connection, acting_for=f"model-{uuid.uuid4().hex[:12]}@example.com")
    for seed in scenario.tasks:
        task = client.add_task(**{key: value for key, value in seed.items() if key != "done"})
        if seed.get("done"):
            client.complete_task(task.id)
    before = {task.id: task for task in client.list_tasks(status="all").tasks}
    conversation = client.create_conversation().conversation_id
    result = Result(scenario.name, passed=False, problem=None, turn_seconds=[])
    steps = []
    for text in scenario.says:
        started = time.perf_counter()
        reply: list[str] = []
        try:
            for event in agent.run_turn(client, conversation, text, today_utc()):
                if isinstance(event, StepFinished):
                    steps.append(event.step)
                    result.steps.append(
                        {"name": event.step.name, "arguments": event.step.arguments, "error": event.step.error}
                        | ({"note": event.step.note} if event.step.note else {})
                    )
                elif isinstance(event, TextDelta):
                    reply.append(event.text)
                elif isinstance(event, Notice):
                    result.notices.append(event.text)
        except Exception as exc:  # a crash is scored as a failure and reported, not raised: the run goes on
            result.problem = f"the turn {text!r} raised {type(exc).__name__}: {exc}"
        result.turn_seconds.append(round(time.perf_counter() - started, 2))
        result.replies.append("".join(reply))
        if result.problem is not None:
            return result
    if result.notices:
        result.problem = f"the model did not answer: {result.notices[0]}"
        return result
    after = {task.id: task for task in client.list_tasks(status="all").tasks}
    result.problem = scenario.check(Outcome(today_utc(), before, after, steps))
    result.passed = result.problem is None
    return result


def run_all(
    settings: UISettings,
    connection: McpConnection,
    variant: str = "as built",
    scenarios: tuple[Scenario, ...] = SCENARIOS,
    *,
    echo: bool = True,
) -> Report:
    agent = Agent.from_settings(settings)
    report = Report(variant, [])
    for scenario in scenarios:
        result = run_scenario(agent, connection, scenario)
        report.results.append(result)
        if echo:
            seconds = "+".join(f"{s:.1f}" for s in result.turn_seconds)
            print(
                f"  {'pass' if result.passed else 'FAIL'} {scenario.name} ({seconds} s) {result.problem or ''}",
                flush=True,
            )
    return report
