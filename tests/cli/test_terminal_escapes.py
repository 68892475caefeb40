"""A provider answering terminal escape sequences (OSC 52 sets the clipboard, OSC 0 the window title, CSI 2J
clears the screen) cannot drive the user's terminal: on a real pty, `workbench run` and `workbench sessions show
--full` show those bytes as visible text. `--json` and an answer redirected to a file keep the model's text as it
was sent. The provider is a loopback HTTP server speaking the OpenAI wire format, started here."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: the answer, in streamed pieces; one escape sequence is split across two pieces
PIECES = [
    "Safe start. ",
    "\x1b]52;c;ZXZpbA==\x07",
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "split \x1b",
    "[31mred",
    " and\ttabs\nnext line\r\nlast \x9b2J end",
]
ANSWER = "".join(PIECES)
#: what a terminal must show instead: every control character but tab and newline as visible \xNN text
SHOWN = "Safe start. \\x1b]52;c;ZXZpbA==\\x07\\x1b]0;pwned\\x07\\x1b[2Jsplit \\x1b[31mred and\ttabs\nnext line\nlast \\x9b2J end"
#: the first call fails with an error message carrying escapes of its own (shown on stderr)
ERROR_MESSAGE = "overloaded \x1b]52;c;c3RvbGVu\x07 \x1b]0;title\x07 try later"
#: what a terminal must never receive: the sequences that act (the renderer's own colours are other CSI codes)
ACTING = [b"\x1b]52", b"\x1b]0;", b"\x1b[2J", b"\x1b[31mred", b"\x07", "\x9b".encode()]


class _HostileProvider:
    def __init__(self) -> None:
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls += 1
                if outer.calls == 1:
                    body = json.dumps({"error": {"message": ERROR_MESSAGE, "type": "server_error"}}).encode()
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                frames = [{"choices": [{"index": 0, "delta": {"content": piece}}]} for piece in PIECES]
                frames.append(
                    {
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 9, "completion_tokens": 30, "total_tokens": 39},
                    }
                )
                body = b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames) + b"data: [DONE]\n\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def provider() -> Iterator[_HostileProvider]:
    p = _HostileProvider()
    yield p
    p.server.shutdown()
    p.server.server_close()


@pytest.fixture
def profile(tmp_path: Path, provider: _HostileProvider) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(
        f"""\
name: hostile
providers:
  evil: {{kind: openai, base_url: "http://127.0.0.1:{provider.port}/v1", timeouts: {{total: 20}}}}
models:
  m: {{provider: evil, model: evil-1, tokenizer: o200k_base, prices: [{{input: 1, output: 2}}]}}
routes:
  main: {{retry: {{max_attempts: 2, backoff_base_s: 0, jitter: none}}, steps: [{{name: answer, targets: [m]}}]}}
"""
    )
    return path


def _on_ptys(*args: str, db: Path) -> tuple[int, bytes, bytes]:
    """Run workbench with stdout and stderr each on a pty of its own (both terminals); what each received."""
    out_master, out_slave = os.openpty()
    err_master, err_slave = os.openpty()
    env = {**os.environ, "WORKBENCH_DB": str(db), "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", *args],
        stdin=subprocess.DEVNULL,
        stdout=out_slave,
        stderr=err_slave,
        cwd=ROOT,
        env=env,
    )
    os.close(out_slave)
    os.close(err_slave)
    got = {out_master: b"", err_master: b""}
    open_fds = set(got)
    deadline = time.monotonic() + 120
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 1.0)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed its end
                chunk = b""
            if chunk:
                got[fd] += chunk
            else:
                open_fds.discard(fd)
    code = proc.wait(timeout=30)
    os.close(out_master)
    os.close(err_master)
    return code, got[out_master], got[err_master]


def _on_terminal(text: str) -> bytes:
    """`text` as a pty hands it over: each newline written as CR LF (the terminal's output processing)."""
    return text.replace("\n", "\r\n").encode()


def test_run_and_show_on_a_terminal_show_escape_sequences_instead_of_obeying_them(
    profile: Path, tmp_path: Path
) -> None:
    db = tmp_path / "wb.db"
    code, out, err = _on_ptys("run", "--profile", str(profile), "hello", db=db)
    assert code == 0, err.decode(errors="replace")
    assert b"\x1b" not in out  # the answer alone on stdout: not one escape byte reaches the terminal
    assert _on_terminal(SHOWN) in out
    for acting in ACTING:
        assert acting not in err, acting  # nor through the failed attempt's note on stderr
    assert b"overloaded \\x1b]52;c;c3RvbGVu\\x07 \\x1b]0;title\\x07 try later" in err

    listed = subprocess.run(
        [sys.executable, "-m", "workbench", "sessions", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "WORKBENCH_DB": str(db)},
    )
    run_id = json.loads(listed.stdout.splitlines()[0])["id"]
    code, out, err = _on_ptys("sessions", "show", "--full", run_id, db=db)
    assert code == 0, err.decode(errors="replace")
    for acting in ACTING:
        assert acting not in out, acting
    flat = b" ".join(out.split())
    assert b"Safe start. \\x1b]52;c;ZXZpbA==\\x07\\x1b]0;pwned\\x07\\x1b[2Jsplit \\x1b[31mred and" in flat
    assert b"overloaded \\x1b]52;c;c3RvbGVu\\x07" in flat  # the attempt's error, in the hop notes

    # --json is data, not display: the model's text exactly as sent (JSON escapes the control characters)
    shown = subprocess.run(
        [sys.executable, "-m", "workbench", "sessions", "show", "--json", run_id],
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "WORKBENCH_DB": str(db)},
    )
    assert b"\x1b" not in shown.stdout
    assert json.loads(shown.stdout)["run"]["output"] == ANSWER


def test_an_answer_redirected_to_a_file_keeps_the_models_text(profile: Path, tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    with answer.open("wb") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "workbench", "run", "--profile", str(profile), "--no-save", "hello"],
            stdout=fh,
            stderr=subprocess.PIPE,
            timeout=120,
            cwd=ROOT,
        )
    assert done.returncode == 0, done.stderr
    assert answer.read_bytes() == ANSWER.encode() + b"\n"
