"""`sessions export --format otlp` when the collector does not take the runs: it answers 500 or 429, refuses the
connection, never answers, or the URL is not one. Each is a one-line failure saying how many runs got through
and why, a non-zero exit, within a bounded time. Real loopback servers, the real CLI in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "store"))

from store_events import PROFILE_HASH, PROFILE_TEXT, varied_runs  # noqa: E402

from workbench.store import open_store, save_events  # noqa: E402

RUNS = 5
TIMEOUT = 2.0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "wb.db"
    with open_store(path) as store:
        save_events(store, [e for r in varied_runs(RUNS) for e in r], profiles=[(PROFILE_HASH, PROFILE_TEXT, None)])
    return path


def _export(db: Path, url: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "sessions",
            "export",
            "--format",
            "otlp",
            "--endpoint",
            url,
            "--timeout",
            str(TIMEOUT),
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300"},
    )
    return done, time.monotonic() - start


class _Collector:
    """Answers every POST with `status` (200 = takes the spans); counts the requests."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests += 1
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[type[_Collector]]:
    made: list[_Collector] = []

    def make(status: int, headers: dict[str, str] | None = None) -> _Collector:
        c = _Collector(status, headers)
        made.append(c)
        return c

    yield make  # type: ignore[misc]
    for c in made:
        c.close()


def _failed(done: subprocess.CompletedProcess[str], why: str) -> None:
    err = " ".join(done.stderr.split())
    assert done.returncode == 1, err
    assert "Traceback" not in err and "Failed to export" not in err  # the SDK's own log lines are not shown
    assert f"sent 0 of {RUNS} runs as traces to" in err and f"the collector did not take the others: {why}" in err
    assert "sent 5 runs" not in err


def test_a_collector_that_takes_the_spans_is_a_success(db: Path, collector) -> None:  # type: ignore[no-untyped-def]
    ok = collector(200)
    done, _ = _export(db, ok.url)
    assert done.returncode == 0, done.stderr
    assert f"sent {RUNS} runs as traces to {ok.url}" in done.stderr and ok.requests >= 1


@pytest.mark.parametrize(
    ("status", "headers", "why"),
    [
        (500, {}, "it answered HTTP 500 (Internal Server Error)"),
        (429, {}, "it answered HTTP 429 (Too Many Requests)"),
        (429, {"Retry-After": "30"}, "no answer within the 2 s timeout (or only answers to retry later than that)"),
        (404, {}, "it answered HTTP 404 (Not Found)"),
    ],
)
def test_a_collector_answering_an_error_fails_the_export(db: Path, collector, status: int, headers, why: str) -> None:  # type: ignore[no-untyped-def]
    bad = collector(status, headers)
    done, elapsed = _export(db, bad.url)
    _failed(done, why)
    assert bad.requests >= 1
    assert elapsed < TIMEOUT + 20  # bounded: retried within --timeout, then given up (loose: a loaded machine)


def test_a_refused_connection_fails_the_export(db: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    done, elapsed = _export(db, f"http://127.0.0.1:{port}")
    _failed(done, "the connection was refused")
    assert elapsed < TIMEOUT + 20


def test_a_collector_that_never_answers_fails_the_export_within_the_timeout(db: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)  # read nothing, answer nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        done, elapsed = _export(db, f"http://127.0.0.1:{listener.getsockname()[1]}")
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    _failed(done, "no answer within the 2 s timeout")
    assert held  # it did connect
    assert elapsed < TIMEOUT * 3 + 15  # one timeout (and one quick reconnect), not one per batch or per retry


@pytest.mark.parametrize("url", ["garbage", "127.0.0.1:4318", "ftp://127.0.0.1:4318", "http://", "http://h:99999"])
def test_an_endpoint_that_is_not_a_url_is_refused_before_sending(db: Path, url: str) -> None:
    done, _ = _export(db, url)
    err = " ".join(done.stderr.split())
    assert done.returncode == 2 and "Traceback" not in err
    assert f"--endpoint {url!r} is not" in err


def test_run_otlp_checks_the_url_first_and_notes_a_trace_that_did_not_get_there(
    tmp_path: Path,
    collector,  # type: ignore[no-untyped-def]
) -> None:
    db = tmp_path / "run.db"
    demo = str(ROOT / "profiles" / "demo.yaml")
    env = {**os.environ, "WORKBENCH_DB": str(db), "COLUMNS": "200"}
    args = [sys.executable, "-m", "workbench", "run", "--profile", demo, "--otlp"]
    done = subprocess.run([*args, "garbage", "hello"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 2 and "--otlp 'garbage' is not an http(s) URL" in done.stderr
    assert not db.exists()  # refused before the database was opened or a call was made
    bad = collector(500)
    done = subprocess.run([*args, bad.url, "hello"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr  # the run itself succeeded and was saved
    assert f"note: the run's trace was not sent to {bad.url}: it answered HTTP 500" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr and "Failed to export" not in done.stderr
