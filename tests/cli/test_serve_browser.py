"""`workbench serve` as users meet it: Debian's chromium, headless, driven by Playwright.

The browser is the system's (`.ci/run` installs the `chromium` package); Playwright never downloads one, and
every request the page makes off this machine (a web font) is aborted. The app draws on a canvas, so the page's
text is read from what its websocket delivers to the terminal (escape sequences stripped): a wrapper around
`WebSocket`, installed before the page's own scripts run, appends it to `window.__screen`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from serve_helpers import free_port, served

TOKEN = "browser-token_0123456789abcdef"

SCREEN_TAP = r"""
(() => {
  window.__screen = "";
  window.__messages = [];  // the same text, one entry per websocket message
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  const strip = (s) => s
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "")
    .replace(/\x1b\[[0-9;?<>=]*[ -\/]*[@-~]/g, " ")
    .replace(/\x1b[()][0-9A-Za-z]|\x1b[=>78]/g, "");
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (typeof e.data === "string") return;
        const text = strip(decoder.decode(e.data, { stream: true }));
        window.__screen += text;
        window.__messages.push(text);
      });
    }
  };
})();
"""

# A page of another origin that tries to drive the user's workbench. It is on loopback too (another port): Chromium
# itself stops public sites from reaching loopback, and the point is that the server refuses it.
FOREIGN_PAGE = """<!doctype html><title>waiting</title><script>
  const ws = new WebSocket("ws://127.0.0.1:PORT/ws?width=80&height=24");
  ws.onopen = () => { document.title = "opened"; };
  ws.onclose = () => { if (document.title === "waiting") document.title = "refused"; };
</script>"""


def system_chromium() -> str:
    path = shutil.which("chromium")
    assert path, "the chromium package is missing: apt-get install -y chromium (.ci/run does)"
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        b = p.chromium.launch(executable_path=system_chromium(), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def new_page(browser: Browser) -> Page:
    """A page whose requests stay on this machine."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())  # nothing from outside
    page.add_init_script(SCREEN_TAP)
    return page


def screen(page: Page) -> str:
    return re.sub(r"\s+", " ", page.evaluate("window.__screen"))


def wait_for_screen(page: Page, text: str, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "(t) => window.__screen.replace(/\\s+/g, ' ').includes(t)", arg=text, timeout=timeout, polling=50
    )


@contextmanager
def foreign_site(tmp: Path, port: int) -> Iterator[str]:
    """Another origin (a real HTTP server on another loopback port) whose page aims at the workbench on `port`."""
    site = tmp / "foreign"
    site.mkdir()
    (site / "index.html").write_text(FOREIGN_PAGE.replace("PORT", str(port)))
    other = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(other), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{other}/"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the foreign site's server did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cannot_open_from_another_origin(page: Page, tmp: Path, port: int) -> None:
    with foreign_site(tmp, port) as url:
        page.goto(url)
        page.wait_for_function("document.title !== 'waiting'", timeout=30_000)
    assert page.title() == "refused"


# One simulated model, no faults, slow enough (~2 s of tokens) that the answer visibly grows.
SLOW_PROFILE = """
version: 2
name: served
sim: {seed: 3, port: 0}
providers:
  local: {kind: sim, wire: openai}
models:
  steady:
    provider: local
    model: sim-steady
    prices: [{input: 0.4, output: 1.6}]
    sim: {ttft_ms: 50, tokens_per_s: 30, answer_tokens: 60}
routes:
  default:
    steps: [{name: answer, targets: [steady]}]
"""


def saved_run(db: Path) -> tuple[str, str, str]:
    """(status, prompt, output) of the one run the served app saved, once it is there."""
    deadline = time.monotonic() + 60
    while True:
        if db.exists():
            with closing(sqlite3.connect(db)) as conn:
                try:
                    rows = conn.execute("SELECT status, prompt, output FROM runs").fetchall()
                except sqlite3.OperationalError:  # the schema is still being created
                    rows = []
            if rows:
                assert len(rows) == 1
                return rows[0]
        assert time.monotonic() < deadline, "the served app saved no run"
        time.sleep(0.1)


def arrival(page: Page, text: str) -> int:
    """The number of the websocket message by which `text` was on the page."""
    seen = ""
    for n, message in enumerate(page.evaluate("window.__messages")):
        seen += message
        if text in re.sub(r"\s+", " ", seen):
            return n
    raise AssertionError(f"{text!r} never reached the page")


def plain_lines(markdown: str) -> list[str]:
    """The answer's lines that render as they are written (no heading, bullet or emphasis marks)."""
    return [
        line.strip()
        for line in markdown.splitlines()
        if line.strip() and not re.match(r"\s*(#|[-*+] |\d+\. )", line) and not re.search(r"[*_`\[]", line)
    ]


def test_the_page_starts_the_app_and_a_typed_prompt_streams_a_run(browser: Browser, tmp_path: Path) -> None:
    profile = tmp_path / "served.yaml"
    profile.write_text(SLOW_PROFILE)
    with served(tmp_path, profile=profile) as server:
        page = new_page(browser)
        page.goto(f"{server.url}/")
        wait_for_screen(page, "Pick a route, write a prompt")  # the playground is drawn
        # Typed at once, no click first: keys reach the prompt, and the question's `?` is text, not help.
        page.keyboard.type("Why do lighthouses blink at night?")
        wait_for_screen(page, "Why do lighthouses blink at night?")
        page.keyboard.press("Control+s")
        wait_for_screen(page, "steady #1")  # the attempt in the hop waterfall
        status, prompt, output = saved_run(tmp_path / "wb.db")
        assert (status, prompt) == ("ok", "Why do lighthouses blink at night?")
        lines = plain_lines(output)
        first, last = lines[0][:30], lines[-1][:30]
        assert first != last
        # ... and the answer streamed into the page: its first sentence came before its last one.
        wait_for_screen(page, first)
        wait_for_screen(page, last)
        assert arrival(page, first) < arrival(page, last)
        assert "help · keys" not in screen(page)
        page.close()
    assert "GET /ws 101" in server.output


def test_a_page_from_another_origin_cannot_open_the_websocket(browser: Browser, tmp_path: Path) -> None:
    with served(tmp_path) as server:
        page = new_page(browser)
        page.goto(f"{server.url}/")
        wait_for_screen(page, "Pick a route, write a prompt")  # the same browser opens it from the right page
        cannot_open_from_another_origin(page, tmp_path, server.port)
        page.close()
    assert "GET /ws 403" in server.output  # refused by the server, not by the browser


def test_with_a_token_the_page_needs_it_and_keeps_it_out_of_the_address_bar(browser: Browser, tmp_path: Path) -> None:
    with served(tmp_path, "--token", TOKEN) as server:
        page = new_page(browser)
        answer = page.goto(f"{server.url}/")
        assert answer is not None and answer.status == 403
        assert "needs its token" in page.content()
        page.goto(f"{server.url}/?token={TOKEN}")
        assert page.url == f"{server.url}/"
        wait_for_screen(page, "Pick a route, write a prompt")
        # The browser holds the token's cookie now (sent to any port of 127.0.0.1), and another origin still cannot.
        cannot_open_from_another_origin(page, tmp_path, server.port)
        page.close()
    assert "GET /ws 403" in server.output


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:  # the task ended meanwhile
                continue
            todo += children - found
            found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left


def test_stopping_the_server_ends_the_app_of_an_open_page(browser: Browser, tmp_path: Path) -> None:
    with served(tmp_path) as server:
        page = new_page(browser)
        page.goto(f"{server.url}/")
        wait_for_screen(page, "Pick a route, write a prompt")
        apps = descendants(server.proc.pid)
        assert apps, "the session's app runs below the server"
        # served() stops the server (SIGTERM) here, with the page still open
    deadline = time.monotonic() + 30
    try:
        while any(alive(pid) for pid in apps):
            assert time.monotonic() < deadline, f"the app outlived the server: {sorted(p for p in apps if alive(p))}"
            time.sleep(0.1)
    finally:
        page.close()
        for pid in apps:  # a failed run leaves none behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
