"""Start-up: how long each way of starting workbench takes, from process start, against `python -c pass`.

Every figure is the wall time from just before the child process is spawned (so it includes the interpreter's own
start, which `python -c pass` measures alone) to the moment named below; each is the median of N runs, and each is
also printed as a ratio to `python -c pass` measured in the same run, so figures from a loaded machine or another
machine stay comparable.

- `python -c pass`: the interpreter's floor.
- `workbench --help`: the CLI's floor (click and the command table; no command module is imported).
- `run --json` first event: until the first line (`run_started`) arrives on the child's stdout, read unbuffered
  through a pipe, for `workbench run --json "..."` on the shipped demo profile. The run is saved to a temporary
  database (`$WORKBENCH_DB`), as a real run is.
- `run --json` end to end: until that child has exited (the demo's default route answers in ~0.8 s of simulated
  latency: swift's 150 ms to first token plus 80 tokens at 120 tokens/s; that part is the profile's, not start-up).
- `tui` first paint: `workbench tui` on the demo, in a pseudo-terminal of 120x40 (so Textual runs its real Linux
  driver and writes real frames), until the app has painted its first frame. The child is started through a small
  probe (`python -c ...` below) that sets `textual.app.App.on_ready` — Textual posts `events.Ready` to the app right
  after the first compositor refresh has written the first frame to the terminal (textual/screen.py) — to a
  handler that writes one byte to a pipe the parent is timing, and exits the app. The probe adds nothing to the
  path it measures but that one handler (it imports textual first instead of later: the same imports, in another
  order). The parent drains the terminal's output so the child never blocks writing frames.
- `tui` playground ready: as above, but the probe waits (on a task of its own, not on the app's message queue) until
  the app's `profile_ready` is set: the profile is loaded, the store open and the playground mounted. A tree that
  loads the profile before its first frame (no `profile_ready`) reports its first paint here too.

With `--against DIR` (another checkout, e.g. `git worktree add /tmp/startup-old main`), every figure is measured
for both trees in the same run, interleaved run by run (this tree, then DIR, then this tree ...), so a machine that
other work loads slows both alike; each row then shows both medians and their ratio, and a `cpu:` row for
python -c pass, the first event, the first paint and the playground: the CPU time (user + system, all threads, from /proc/PID/stat in 10 ms ticks) the child had used at that moment,
a figure that other processes on a loaded machine disturb far less than wall time. The child processes import
`workbench` from the tree named by PYTHONPATH; the console script is not used in that mode.

Usage: python benchmarks/startup.py [--n 10] [--skip-tui] [--against DIR]
"""

from __future__ import annotations

import argparse
import os
import pty
import resource
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from fcntl import ioctl
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PROMPT = "Why is the sky blue?"
TIMEOUT_S = 30.0

# The TUI probe: run the real `workbench tui` command with one handler added to Textual's App for the Ready event.
TUI_PROBE = """
import os, sys
from textual.app import App
def _probe_on_ready(self):
    ready = getattr(self, "profile_ready", None)
    async def report():
        if ready is not None and os.environ.get("WB_PROBE_UNTIL") == "loaded":
            await ready.wait()
        os.write(int(os.environ["WB_PROBE_FD"]), b"painted\\n")
        self.exit()
    import asyncio
    self._probe_task = asyncio.create_task(report())  # not on the app's queue: that would block its messages
App.on_ready = _probe_on_ready
from workbench.cli import main
sys.argv = ["workbench", "tui"]
main()
"""


def _workbench() -> list[str]:
    exe = Path(PY).parent / "workbench"
    return [str(exe)] if exe.exists() else [shutil.which("workbench") or "workbench"]


def with_bytecode(env: dict[str, str]) -> dict[str, str]:
    """The children write and use .pyc files as an installed workbench does (PYTHONDONTWRITEBYTECODE, set in
    some shells and CI, would make every run compile every module it imports and measure the compiler)."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


#: the CPU seconds (user + system, all threads) the last timed child had used at the moment its figure was taken:
#: a second measure next to wall time that other processes on a loaded machine disturb far less (10 ms ticks)
LAST_CPU: list[float] = [0.0]
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)


def time_exit(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    t1 = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return t1 - t0


def time_first_line(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(seconds to the first stdout line, seconds to exit)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    t1 = time.perf_counter()
    LAST_CPU[0] = _cpu_of(proc.pid)
    proc.stdout.read()
    code = proc.wait(TIMEOUT_S)
    t2 = time.perf_counter()
    if b"run_started" not in line or code != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {code}, first line {line[:200]!r}")
    return t1 - t0, t2 - t0


def time_tui_first_paint(env: dict[str, str], cwd: Path, until: str = "painted") -> float:
    """Until the first frame is painted, or with until="loaded" until the profile is loaded and the playground is up
    (the same moment as the first paint for a tree that loads the profile before its first frame)."""
    master, slave = pty.openpty()
    ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    probe_r, probe_w = os.pipe()
    child_env = {
        **env,
        "WB_PROBE_UNTIL": until,
        "WB_PROBE_FD": str(probe_w),
        "TERM": "xterm-256color",
        "COLUMNS": "120",
        "LINES": "40",
    }
    stop = threading.Event()

    def drain() -> None:  # the child must never block on a full terminal
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    if not os.read(master, 65536):
                        return
                except OSError:
                    return

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [PY, "-c", TUI_PROBE],
        env=child_env,
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        pass_fds=(probe_w,),
        start_new_session=True,
    )
    os.close(probe_w)
    try:
        ready, _, _ = select.select([probe_r], [], [], TIMEOUT_S)
        t1 = time.perf_counter()
        LAST_CPU[0] = _cpu_of(proc.pid)
        if not ready or not os.read(probe_r, 64):
            raise RuntimeError("workbench tui did not paint a first frame")
        proc.wait(TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop.set()
        drainer.join()
        for fd in (probe_r, slave, master):
            os.close(fd)
    return t1 - t0


def median_of(n: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(n))


def compare(n: int, skip_tui: bool, other: Path) -> None:
    """Both trees in one run, interleaved: (name, this tree's median, the other's median) per figure."""
    trees = {"new": ROOT, "old": other.resolve()}
    with tempfile.TemporaryDirectory(prefix="wb-startup-") as tmp:
        envs = {
            key: {
                **with_bytecode(dict(os.environ)),
                "WORKBENCH_DB": str(Path(tmp) / f"{key}.db"),
                "PYTHONUNBUFFERED": "0",
                "PYTHONPATH": str(tree),
            }
            for key, tree in trees.items()
        }
        samples: dict[str, dict[str, list[float]]] = {}

        def add(name: str, key: str, value: float) -> None:
            samples.setdefault(name, {"new": [], "old": []})[key].append(value)

        for rnd in range(n + 1):  # round 0 is untimed: page cache, .pyc files, the databases' creation
            order = list(trees.items())
            for key, tree in order if rnd % 2 else order[::-1]:  # who goes first alternates: no slot favoured
                env, wb = envs[key], [PY, "-m", "workbench"]
                values = [("python -c pass", time_exit([PY, "-c", "pass"], env, tree))]
                values.append(("cpu: python -c pass", LAST_CPU[0]))
                values.append(("workbench --help", time_exit([*wb, "--help"], env, tree)))
                first, end = time_first_line([*wb, "run", "--json", PROMPT], env, tree)
                values += [("run --json: first event", first), ("cpu: run --json first event", LAST_CPU[0])]
                values.append(("run --json: end to end", end))
                if not skip_tui:
                    values.append(("tui: first paint", time_tui_first_paint(env, tree)))
                    values.append(("cpu: tui first paint", LAST_CPU[0]))
                    values.append(("tui: playground ready", time_tui_first_paint(env, tree, "loaded")))
                    values.append(("cpu: tui playground ready", LAST_CPU[0]))
                if rnd:
                    for name, value in values:
                        add(name, key, value)
    # one interpreter for both trees: its floor is the median of all its runs
    pooled = statistics.median(samples["python -c pass"]["new"] + samples["python -c pass"]["old"])
    pooled_cpu = statistics.median(samples["cpu: python -c pass"]["new"] + samples["cpu: python -c pass"]["old"])
    print(f"start-up, median of {n}, interleaved (python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    print(f"  new: {ROOT}\n  old: {trees['old']}")
    print(f"  {'':<28} {'new ms':>8} {'x pass':>7}  {'old ms':>8} {'x pass':>7}  {'new/old':>7}")
    for name, by in sorted(samples.items(), key=lambda item: item[0].startswith("cpu:")):
        new, old = statistics.median(by["new"]), statistics.median(by["old"])
        base = pooled_cpu if name.startswith("cpu:") else pooled
        print(
            f"  {name:<28} {new * 1000:8.1f} {new / base:7.1f}  {old * 1000:8.1f} {old / base:7.1f}"
            f"  {new / old if old else float('nan'):7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=10, help="runs per figure (median is reported)")
    parser.add_argument("--skip-tui", action="store_true", help="do not measure the TUI's first paint")
    parser.add_argument("--against", type=Path, default=None, help="another checkout, measured interleaved")
    args = parser.parse_args()
    if args.against is not None:
        compare(args.n, args.skip_tui, args.against)
        return

    with tempfile.TemporaryDirectory(prefix="wb-startup-") as tmp:
        env = {
            **with_bytecode(dict(os.environ)),
            "WORKBENCH_DB": str(Path(tmp) / "workbench.db"),
            "PYTHONUNBUFFERED": "0",
        }
        cwd = ROOT
        wb = _workbench()
        # one untimed round first: page cache, .pyc files, the database's creation
        time_exit([PY, "-c", "pass"], env, cwd)
        time_exit([*wb, "--help"], env, cwd)
        time_first_line([*wb, "run", "--json", PROMPT], env, cwd)

        rows: list[tuple[str, float]] = []
        rows.append(("python -c pass", median_of(args.n, lambda: time_exit([PY, "-c", "pass"], env, cwd))))
        rows.append(("workbench --help", median_of(args.n, lambda: time_exit([*wb, "--help"], env, cwd))))
        runs = [time_first_line([*wb, "run", "--json", PROMPT], env, cwd) for _ in range(args.n)]
        rows.append(("run --json: first event", statistics.median(r[0] for r in runs)))
        rows.append(("run --json: end to end", statistics.median(r[1] for r in runs)))
        if not args.skip_tui:
            time_tui_first_paint(env, cwd)
            rows.append(("tui: first paint", median_of(args.n, lambda: time_tui_first_paint(env, cwd))))
            rows.append(("tui: playground ready", median_of(args.n, lambda: time_tui_first_paint(env, cwd, "loaded"))))

    base = rows[0][1]
    print(f"start-up, median of {args.n} (python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    for name, seconds in rows:
        print(f"  {name:<26} {seconds * 1000:8.1f} ms  {seconds / base:6.1f}x python -c pass")


if __name__ == "__main__":
    main()
