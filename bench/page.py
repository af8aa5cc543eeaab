"""`make bench-page`: how fast the page is in a real browser, at 0, 50 and 200 stored messages.

Starts a real PostgreSQL, `python -m mcp_server` and the page (`python -m app`, the offline assistant, header
sign-in so that each size has a user of its own), then drives Debian's chromium through Playwright. For each size
and repetition it seeds two conversations of that many messages (offline-style turns of 4 messages: the user's,
an add_task call, its result, the reply) and measures, in the browser:

- reload: from the navigation's start until the page is drawn and idle (the chat box there, the script run over);
- Enter to the user's message shown, and Enter to the reply complete (the turn's script run over);
- filter switch: a click on another filter of the task panel until its run is over (open to all, and back);
- conversation switch: a click on the other conversation in the sidebar until it is drawn and idle.

The times come from the page itself: a script added to every document notes `performance.now()` when the key or
the pointer goes down and when the page's DOM first shows the awaited state (a MutationObserver), so Playwright's
own round trips are not in the figures. `--root` runs the page from another checkout (say, a git worktree of an
earlier commit) against this checkout's server, for before-and-after figures from one machine.
"""

import argparse
import contextlib
import functools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app.client import McpConnection, TodoClient
from bench.common import SERVICE_TOKEN, running_stack
from devtools.browser import launch_chromium
from devtools.history import seed_conversation
from devtools.servers import ROOT, free_port, wait_until_ready

SIZES = (0, 50, 200)
HEADER = "X-Forwarded-Email"
VIEWPORT = {"width": 1280, "height": 720}
TIMEOUT_MS = 60_000
METRICS = ("Enter → your message shown", "Enter → reply complete", "filter switch", "conversation switch", "reload")

# Added to every document before the page's own scripts. `arm(want)` starts a measurement that begins at the next
# Enter or pointer-down; `armNavigation(want)` one that begins at the next navigation's start (kept in
# sessionStorage across the reload). `want` names what must be in the DOM, and `run: true` that a script run must
# have started; the measurement is done at the first moment all of it holds and the script is not running.
MARKS_JS = """
(() => {
  const KEY = "bench-want";
  const bench = { t0: null, marks: {}, want: JSON.parse(sessionStorage.getItem(KEY) || "null") };
  if (bench.want) { bench.t0 = 0; sessionStorage.removeItem(KEY); }
  window.__bench = bench;
  bench.arm = (want) => { bench.want = want; bench.t0 = null; bench.marks = {}; };
  bench.armNavigation = (want) => sessionStorage.setItem(KEY, JSON.stringify(want));
  const start = () => { if (bench.want && bench.t0 === null) bench.t0 = performance.now(); };
  addEventListener("keydown", (event) => { if (event.key === "Enter") start(); }, true);
  addEventListener("pointerdown", start, true);
  const scriptState = () =>
    document.querySelector('[data-testid="stApp"]')?.getAttribute("data-test-script-state");
  const texts = (avatar) =>
    [...document.querySelectorAll('[data-testid="stChatMessage"]')]
      .filter((message) => message.querySelector(`[data-testid="${avatar}"]`))
      .map((message) => message.querySelector('[data-testid="stChatMessageContent"]')?.textContent.trim() || "");
  const check = () => {
    const want = bench.want, marks = bench.marks;
    if (!want || bench.t0 === null || marks.done !== undefined) return;
    const now = performance.now(), state = scriptState();
    if (state === "running" && marks.ran === undefined) marks.ran = now;
    if (want.user && marks.user === undefined && texts("stChatMessageAvatarUser").includes(want.user)) {
      marks.user = now;
    }
    if (want.reply && marks.reply === undefined &&
        texts("stChatMessageAvatarAssistant").some((text) => text.includes(want.reply))) marks.reply = now;
    if (marks.input === undefined && document.querySelector('[data-testid="stChatInputTextArea"]')) {
      marks.input = now;
    }
    const seen = (!want.user || marks.user !== undefined) && (!want.reply || marks.reply !== undefined) &&
      marks.input !== undefined && (!want.run || marks.ran !== undefined);
    if (seen && state === "notRunning") marks.done = now;
  };
  let queued = false;
  new MutationObserver((records) => {
    const ran = records.some((record) => record.attributeName && (record.oldValue === "running" ||
      record.target.getAttribute(record.attributeName) === "running"));
    if (ran && bench.want && bench.t0 !== null && bench.marks.ran === undefined) bench.marks.ran = performance.now();
    if (!queued) { queued = true; queueMicrotask(() => { queued = false; check(); }); }
  }).observe(document, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeOldValue: true,
    attributeFilter: ["data-test-script-state"],
  });
})();
"""


@dataclass
class Figures:
    """Milliseconds per metric, for one size."""

    times: dict[str, list[float]] = field(default_factory=lambda: {metric: [] for metric in METRICS})

    def median(self, metric: str) -> float:
        return statistics.median(self.times[metric])

    def p95(self, metric: str) -> float:
        values = sorted(self.times[metric])
        return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


@contextlib.contextmanager
def page_process(root: Path, mcp_url: str, log: Path) -> Iterator[str]:
    """`python -m app` from `root`, on the offline assistant, signing users in by the header; its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OIDC_"))}
    env |= {"MCP_URL": mcp_url, "MCP_AUTH_TOKEN": SERVICE_TOKEN, "AUTH_MODE": "header", "AUTH_HEADER": HEADER}
    env |= {"LOG_LEVEL": "WARNING", "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "app", "--server.headless", "true", "--server.port", str(port)]
    command += ["--browser.gatherUsageStats", "false"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/_stcore/health", process, "The page")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_done(page: Page) -> None:
    try:
        page.wait_for_function("() => window.__bench.marks.done !== undefined", timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        state = page.evaluate(
            "() => ({ want: window.__bench.want, t0: window.__bench.t0, marks: window.__bench.marks })"
        )
        raise RuntimeError(f"the page never showed what was awaited: {state}") from None


def measure(page: Page, want: dict[str, object], act: Callable[[], None]) -> dict[str, float]:
    """Arm the page's marks, act, wait until the awaited state is drawn: the marks relative to the start."""
    page.evaluate("want => window.__bench.arm(want)", want)
    act()
    wait_done(page)
    bench = page.evaluate("() => ({ t0: window.__bench.t0, marks: window.__bench.marks })")
    return {name: value - bench["t0"] for name, value in bench["marks"].items()}


def filter_button(page: Page, name: str) -> Locator:
    """The task panel's filter `name` (its label is the name, with a count after it on newer pages)."""
    label = re.compile(rf"^{name}\b")
    return page.get_by_role("radio", name=label).or_(page.get_by_role("button", name=label)).first


def run_size(context: BrowserContext, url: str, mcp_url: str, size: int, repeats: int) -> Figures:
    """One size's figures; a first repetition warms the browser and the page up and is not counted."""
    figures = Figures()
    user = f"bench-page-{size}-{uuid.uuid4().hex[:8]}@example.com"
    context.set_extra_http_headers({HEADER: user})
    with McpConnection(mcp_url, SERVICE_TOKEN) as connection:
        todo = TodoClient(connection, acting_for=user)
        for number in range(1, 6):  # 3 open and 2 done, for the filters
            task = todo.add_task(f"seeded task {number}")
            if number > 3:
                todo.complete_task(task.id)
        # Pairs of conversations, the pair used first made last: it is at the top of the sidebar's list.
        for r in reversed(range(repeats + 1)):
            seed_conversation(todo, f"bench {size} A{r}", size // 4, f"A{r} errand")
            seed_conversation(todo, f"bench {size} B{r}", size // 4, f"B{r} errand")
        ids = {c.title: c.conversation_id for c in todo.list_conversations(limit=2 * repeats + 2).conversations}
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        for r in range(repeats + 1):
            kept = figures.times if r else Figures().times
            page.goto(f"{url}/?c={ids[f'bench {size} A{r}']}")
            page.evaluate("want => window.__bench.armNavigation(want)", {"run": True})
            page.reload()
            wait_done(page)
            kept["reload"].append(page.evaluate("() => window.__bench.marks.done - window.__bench.t0"))

            text = f"add bench check {size}-{r}"
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill(text)
            enter = functools.partial(box.press, "Enter")
            marks = measure(page, {"user": text, "reply": f"bench check {size}-{r}", "run": True}, enter)
            kept["Enter → your message shown"].append(marks["user"])
            kept["Enter → reply complete"].append(marks["done"])

            for name in ("all", "open"):
                kept["filter switch"].append(measure(page, {"run": True}, filter_button(page, name).click)["done"])

            other = page.get_by_test_id("stSidebar").get_by_role("button", name=f"bench {size} B{r}", exact=True)
            want: dict[str, object] = {"run": True}
            if size:
                want["user"] = f"add B{r} errand {size // 4}"
            kept["conversation switch"].append(measure(page, want, other.click)["done"])
    finally:
        page.close()
    return figures


def print_table(results: dict[int, Figures], repeats: int, root: Path) -> None:
    print(
        f"\n`python -m bench.page --repeats {repeats}` (page from {root}), headless chromium at 1280x720, the offline"
    )
    print(
        "assistant; ms, median (p95) of the repetitions; the last column: the largest size's median over the smallest's.\n"
    )
    sizes = sorted(results)
    print("| | " + " | ".join(f"{size} messages" for size in sizes) + f" | {sizes[-1]}/{sizes[0]} |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    for metric in METRICS:
        cells = [f"{results[s].median(metric):.0f} ({results[s].p95(metric):.0f})" for s in sizes]
        ratio = results[sizes[-1]].median(metric) / results[sizes[0]].median(metric)
        print(f"| {metric} | " + " | ".join(cells) + f" | {ratio:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="stored messages, comma-separated")
    parser.add_argument("--repeats", type=int, default=10, help="repetitions per size")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose page is measured")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    root = args.root.resolve()
    with (
        running_stack() as (_, mcp_base),
        tempfile.TemporaryDirectory(prefix="bench-page-") as folder,
        page_process(root, f"{mcp_base}/mcp", Path(folder) / "page.log") as url,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.add_init_script(MARKS_JS)
        results = {size: run_size(context, url, f"{mcp_base}/mcp", size, args.repeats) for size in sizes}
        browser.close()
    print_table(results, args.repeats, root)


if __name__ == "__main__":
    main()
