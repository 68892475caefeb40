"""`workbench tune --calibrate`: the threshold that sends a stated share of a dataset to the strong branch, from the
engine's own difficulty scorer; `--apply` writes it keeping every comment; a route without strong/weak is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from workbench.engine.route_step import difficulty
from workbench.eval.calibrate import choose_threshold, engine_scores
from workbench.eval.dataset import Case
from workbench.locations import PACKAGED_DEMO
from workbench.profiles.load import load_profile, loads_profile

INPUTS = [
    "complete the next line",
    "rename x to y",
    "Why does my async code deadlock? Explain the design tradeoff.",
    "Refactor app.py and db.py to share one connection pool across modules",
    "def f(): pass",
    "translate this comment",
    "how do I debug a memory leak?",
    "what is 2+2",
    "Compare two architecture options for migrating a monolith to services: 1) strangler 2) rewrite",
    "fill in the typo",
]
THRESHOLD_PATH = ("routes", "code", "steps", 1, "strong_weak", "threshold")


def _tune(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", "tune", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    prof = tmp_path / "demo.yaml"
    shutil.copy(PACKAGED_DEMO, prof)
    data = tmp_path / "cases.jsonl"
    data.write_text("".join(json.dumps({"id": f"c{i}", "input": t}) + "\n" for i, t in enumerate(INPUTS)))
    return prof, data


def _comment_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def test_calibrate_picks_the_share_quantile_and_applies_it_keeping_comments(tmp_path: Path) -> None:
    prof, data = _setup(tmp_path)
    # independently: the engine's scorer on each input, the 3rd highest score sends 3 of 10 (30%) strong
    scores = sorted((difficulty(t)[0] for t in INPUTS), reverse=True)
    expected = scores[2]
    assert scores[2] > scores[3]  # a clean boundary: no tie at the split
    assert load_profile(prof).profile.routes["code"].steps[1].strong_weak.threshold != expected

    args = ["--profile", str(prof), "--dataset", str(data), "--route", "code", "--calibrate", "--strong-share", "0.3"]
    proc = _tune(*args, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["threshold"] == expected
    assert (out["strong"], out["scored"], out["share"], out["ties"]) == (3, 10, 0.3, 0)
    assert [s["score"] for s in out["scores"]] == [difficulty(t)[0] for t in INPUTS]
    assert out["param"] == "routes.code.steps.1.strong_weak.threshold"

    before = prof.read_text()
    proc = _tune(*args, "--apply", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"threshold {expected}" in proc.stdout and "3 of 10 cases (30.0%)" in proc.stdout
    after = prof.read_text()
    assert _comment_lines(before) == [c for c in _comment_lines(after)]  # every comment line kept, in order
    assert len(after.splitlines()) == len(before.splitlines())
    loaded = load_profile(prof)
    assert loaded.profile.routes["code"].steps[1].strong_weak.threshold == expected
    line = after.splitlines()[loaded.position(THRESHOLD_PATH)[0] - 1]
    assert "# calibrated by workbench tune --calibrate on cases.jsonl" in line and "3/10 strong" in line

    # calibrating again replaces its own note instead of stacking a second one
    proc = _tune(*args[:-1], "0.2", "--apply", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    again = prof.read_text()
    line = again.splitlines()[loaded.position(THRESHOLD_PATH)[0] - 1]
    assert line.count("#") == 1 and "2/10 strong" in line
    assert load_profile(prof).profile.routes["code"].steps[1].strong_weak.threshold == scores[1]


def test_route_without_strong_weak_is_a_clear_error(tmp_path: Path) -> None:
    prof, data = _setup(tmp_path)
    before = prof.read_text()
    proc = _tune(
        "--profile", str(prof), "--dataset", str(data), "--route", "shop", "--calibrate", "--strong-share", "0.3",
        "--apply", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "route 'shop' has no routing step with `strong_weak`" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert prof.read_text() == before


def test_ties_at_the_boundary_take_the_closest_share() -> None:
    # share 0.4 of 5 wants 2 strong; three cases tie at 0.5: threshold 0.5 sends 4, 0.9 sends 1 -> 1 is closer
    scores = [("a", 0.9), ("b", 0.5), ("c", 0.5), ("d", 0.5), ("e", 0.1)]
    cal = choose_threshold(scores, 0.4)
    assert (cal.threshold, cal.strong, cal.ties) == (0.9, 1, 3)
    assert "3 cases score exactly 0.5" in cal.note
    # share 0.6 wants 3: 0.5 sends 4 (off by 1), 0.9 sends 1 (off by 2) -> the tied score itself
    cal = choose_threshold(scores, 0.6)
    assert (cal.threshold, cal.strong, cal.ties) == (0.5, 4, 3)
    # share 0: above every score
    assert choose_threshold(scores, 0.0).threshold == 0.901 and choose_threshold(scores, 0.0).strong == 0


CLASSIFIER_PROFILE = """
name: calibrate-classifier
sim: {seed: 4}
providers:
  local: {kind: sim, wire: openai}
models:
  judge: {provider: local, model: sim-judge, prices: [{input: 0.1, output: 0.4}], sim: {ttft_ms: 0}}
  small: {provider: local, model: sim-small, prices: [{input: 0.1, output: 0.4}], sim: {ttft_ms: 0, answer_tokens: 5}}
routes:
  code:
    steps:
      - kind: route
        name: complexity
        strong_weak: {threshold: 0.5, scorer: classifier, model: judge, strong: hard, weak: easy}
        default: easy
        branches:
          hard: [{name: h, targets: [small]}]
          easy: [{name: e, targets: [small]}]
"""


async def test_classifier_scores_come_from_the_engine_run() -> None:
    loaded = loads_profile(CLASSIFIER_PROFILE)
    cases = [Case(id=f"c{i}", input=t) for i, t in enumerate(INPUTS[:6])]
    got = await engine_scores(loaded, cases, "code", "complexity", concurrency=3)
    # independently: the score the route hop itself reported on a plain run of each case
    from workbench.engine import Engine

    async with Engine(loaded) as engine:
        for case, (cid, score) in zip(cases, got, strict=True):
            events = [e async for e in engine.run(case.input, route="code")]
            (hop,) = [e for e in events if e.type == "hop_finished" and e.kind == "route"]
            assert cid == case.id and score is not None and score == hop.score
            assert hop.data["label"] in ("hard", "easy")  # the classifier answered: not the feature fallback
