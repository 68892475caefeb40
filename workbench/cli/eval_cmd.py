"""`workbench eval --profile F --dataset D --routes a,b [--repeat N] [--concurrency C] [--max-cost USD] [--json]
[--baseline EVAL_ID]`: run a dataset through routes and report pass rates with intervals, latency and cost.

Progress (a bar per route: cases done, failures, spend) goes to stderr; the report (or with `--json` one summary
object) to stdout. Every run is saved to the session database (session `eval-<id>`) and the eval's verdicts to
its `evals`/`eval_results` tables, unless `--no-save`. Exit 0 when the eval ran (whatever the pass rates), 1 when
it was stopped by the cost cap, 2 for bad input. SIGINT (Ctrl-C), SIGTERM and SIGHUP stop it gracefully, as they
stop `workbench run`: runs in flight are saved `cancelled` with their estimated cost, the partial eval is saved
with `stopped` saying why, and the exit code is 128 + the signal's number.
"""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench.errors import WorkbenchError
from workbench.locations import default_profile_path

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile


def _render(summary: dict[str, Any], diff: list[dict[str, Any]] | None, baseline: str | None, eval_id: str) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=f"eval {eval_id}: {summary['cases']} cases × {summary['repeat']} repeat(s)", title_justify="left")
    cols = [
        "route",
        "pass rate [95% CI]",
        "p50/p95 ms",
        "TTFT p50/p95",
        "mean $",
        "total $",
        "err/fb/degr",
        "tokens in/out",
    ]
    if summary["repeat"] > 1:
        cols[2:2] = ["pass^N", "flaky"]
    for c in cols:
        t.add_column(c)

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    for name, s in summary["routes"].items():
        rate = (
            "-"
            if s["pass_rate"] is None
            else f"{s['pass_rate']:.1%} [{s['pass_rate_ci'][0]:.1%}, {s['pass_rate_ci'][1]:.1%}]"
        )
        row = [
            name,
            f"{rate} ({s['passed']}/{s['runs']})",
            f"{ms(s['latency_p50_ms'])}/{ms(s['latency_p95_ms'])}",
            f"{ms(s['ttft_p50_ms'])}/{ms(s['ttft_p95_ms'])}",
            f"{Decimal(s['cost_mean_usd']):.6f}",
            f"{Decimal(s['cost_total_usd']):.6f}",
            "/".join("-" if s[k] is None else f"{s[k]:.0%}" for k in ("error_rate", "fallback_rate", "degraded_rate")),
            f"{s['input_tokens']}/{s['output_tokens']}",
        ]
        if summary["repeat"] > 1:
            row[2:2] = ["-" if s["pass_all"] is None else f"{s['pass_all']:.0%}", str(len(s["flaky_cases"]))]
        t.add_row(*row)
    con.print(t)
    for name, s in summary["routes"].items():
        if s.get("flaky_cases"):
            con.print(f"flaky on {name}: {', '.join(s['flaky_cases'])}")
    if summary["pairs"]:
        p = Table(title="pairwise (per case)", title_justify="left")
        for c in ("a vs b", "win/tie/loss", "pass diff (a−b) [95% CI]", "cost b/a [95% CI]"):
            p.add_column(c)
        for pr in summary["pairs"]:
            ratio = pr["cost_ratio_b_over_a"]
            lo, hi = pr["pass_diff_ci"]
            p.add_row(
                f"{pr['a']} vs {pr['b']}",
                f"{pr['wins']}/{pr['ties']}/{pr['losses']}",
                f"{pr['pass_diff'] * 100:+.1f} pts [{lo * 100:+.1f}, {hi * 100:+.1f}]",
                "-" if not ratio else f"{ratio[0]:.2f} [{ratio[1]:.2f}, {ratio[2]:.2f}]",
            )
        con.print(p)
        for pr in summary["pairs"]:
            j = pr.get("judge")
            if j:
                share = (
                    "-"
                    if j["a_share"] is None
                    else f"{j['a_share']:.0%} [{j['a_share_ci'][0]:.0%}, {j['a_share_ci'][1]:.0%}]"
                )
                con.print(
                    f"judge, both orders: {pr['a']} preferred {j['a_preferred']}, {pr['b']} {j['b_preferred']},"
                    f" ties/inconsistent {j['ties']}; {pr['a']}'s share of decisive cases {share}"
                )
    if diff is not None:
        regress = [d for d in diff if d["change"] == "regression"]
        gains = [d for d in diff if d["change"] == "improvement"]
        con.print(
            f"against {baseline}: {len(regress)} regressions, {len(gains)} improvements, {len(diff) - len(regress) - len(gains)} unchanged"
        )
        for d in regress + gains:
            con.print(f"  {d['change']:<11} {d['route']}/{d['case']}: {d['before']:.0%} → {d['now']:.0%}")
    con.print(summary["verdict"], soft_wrap=True)
    con.print(f"spent ${summary['spent_usd']} in {summary['wall_s']:.1f} s; eval id {eval_id}")


def _model_routes(loaded: LoadedProfile, aliases: list[str]) -> LoadedProfile:
    """The profile with a one-step route `model:ALIAS` per alias (in memory only)."""
    from dataclasses import replace

    from workbench.profiles.models import Route
    from workbench.profiles.steps import GenerateStep

    profile = loaded.profile
    unknown = [a for a in aliases if a not in profile.models]
    if unknown:
        raise WorkbenchError(
            f"--models: unknown model(s) {', '.join(unknown)}", hint=f"models: {', '.join(profile.models)}"
        )
    extra = {f"model:{a}": Route(steps=[GenerateStep(name="answer", targets=[a])]) for a in aliases}
    return replace(loaded, profile=profile.model_copy(update={"routes": {**profile.routes, **extra}}))


@click.command("eval")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None, help="profile file")
@click.option(
    "--dataset", "dataset_path", type=click.Path(path_type=Path), required=True, help=".jsonl, .csv or promptfoo .yaml"
)
@click.option("--routes", default="", help="comma-separated route names")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 100), help="runs per case and route")
@click.option("--concurrency", default=10, show_default=True, type=click.IntRange(1, 1000), help="runs at once")
@click.option("--max-cost", "max_cost", default=None, help="stop starting runs once the eval has spent this (USD)")
@click.option("--judge", "judge_model", default=None, help="model alias that scores judge checks")
@click.option(
    "--pairwise", is_flag=True, help="with --judge: ask the judge which route's answer is better, both orders"
)
@click.option("--baseline", default=None, help="an earlier eval id: show regressions first")
@click.option("--json", "as_json", is_flag=True, help="print one summary object")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="session database")
@click.option("--no-save", is_flag=True, help="do not save the runs or the eval")
@click.option("--otlp", default=None, metavar="URL", help="send every run as OpenTelemetry spans (OTLP/HTTP)")
@click.option(
    "--cache", "use_cache", is_flag=True, help="reuse saved answers to the exact same requests (marked cached)"
)
@click.option("--models", default=None, help="also compare these model aliases, each as a one-step route model:ALIAS")
def eval_cmd(
    profile_path: Path | None,
    dataset_path: Path,
    routes: str,
    repeat: int,
    concurrency: int,
    max_cost: str | None,
    judge_model: str | None,
    pairwise: bool,
    baseline: str | None,
    as_json: bool,
    db: Path | None,
    no_save: bool,
    otlp: str | None,
    use_cache: bool,
    models: str | None,
) -> None:
    """Run every case of a dataset through every route and compare them."""
    from workbench.cli.run_cmd import on_stop_signals
    from workbench.engine.run import new_run_id
    from workbench.eval.dataset import load_dataset
    from workbench.eval.report import baseline_diff, case_shares, summarize
    from workbench.eval.runner import EvalStop, run_eval
    from workbench.profiles.load import load_profile

    loaded = load_profile(profile_path or default_profile_path())
    if models:
        loaded = _model_routes(loaded, [m.strip() for m in models.split(",") if m.strip()])
        routes = ",".join(
            [
                *(r for r in routes.split(",") if r.strip()),
                *(f"model:{m.strip()}" for m in models.split(",") if m.strip()),
            ]
        )
    names = [r.strip() for r in routes.split(",") if r.strip()]
    unknown = [r for r in names if r not in loaded.profile.routes]
    if not names or unknown:
        raise WorkbenchError(
            f"--routes: unknown route(s) {', '.join(unknown) or '(none given)'}",
            hint=f"routes: {', '.join(loaded.profile.routes)}",
        )
    cap: Decimal | None = None
    if max_cost is not None:
        try:
            cap = Decimal(max_cost)
        except InvalidOperation:
            raise WorkbenchError(f"--max-cost {max_cost!r} is not a number of dollars") from None
    dataset = load_dataset(dataset_path)
    if any(c.type == "judge" for case in dataset.cases for c in case.checks):
        if judge_model is None:
            raise WorkbenchError(f"{dataset_path}: the dataset has judge checks; name a judge model with --judge MODEL")
        if judge_model not in loaded.profile.models:
            raise WorkbenchError(
                f"--judge: unknown model {judge_model!r}", hint=f"models: {', '.join(loaded.profile.models)}"
            )
    if pairwise and judge_model is None:
        raise WorkbenchError("--pairwise needs a judge model: --judge MODEL")
    if pairwise and judge_model not in loaded.profile.models:
        raise WorkbenchError(
            f"--judge: unknown model {judge_model!r}", hint=f"models: {', '.join(loaded.profile.models)}"
        )
    eval_id = new_run_id()
    base_shares = None
    if baseline is not None:
        from workbench.eval.store import load_shares

        baseline, base_shares = load_shares(db, baseline)
    writer = None
    if not no_save:
        from workbench.cli.saving import open_writer

        writer = open_writer(db, loaded, f"eval-{eval_id}")
    tracer = None
    if otlp:
        from workbench.otel.spans import OtlpExporter, Tee

        tracer = OtlpExporter(otlp, profile=loaded.profile)
    sink = writer if tracer is None else Tee(writer, tracer)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    err = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("fail {task.fields[fail]}  ${task.fields[spent]:.6f}"),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    tasks = {r: progress.add_task(r, total=len(dataset.cases) * repeat, fail=0, spent=0.0) for r in names}
    fails = dict.fromkeys(names, 0)
    spent = dict.fromkeys(names, 0.0)

    def on_progress(o: Any) -> None:
        fails[o.route] += not o.passed
        spent[o.route] += float(o.cost)
        progress.update(tasks[o.route], advance=1, fail=fails[o.route], spent=spent[o.route])

    cache: dict[str, Any] | None = None
    if use_cache:
        if no_save:
            raise WorkbenchError("--cache keeps answers in the session database; it cannot be used with --no-save")
        from workbench.eval.store import load_cache

        cache = load_cache(db)
    known = set(cache or {})
    stop = EvalStop()
    signals: list[int] = []

    async def main() -> tuple[Any, dict[str, Any], list[dict[str, Any]] | None]:
        # SIGINT, SIGTERM and SIGHUP stop the eval as they stop `workbench run`: runs in flight end `cancelled`
        # with their estimated cost, the finished and cancelled runs and the partial eval are saved (the save
        # runs here, inside the loop, so a second signal cannot cut it short), and the exit code is 128 + signum.
        def on_signal(signum: int, reason: str) -> None:
            signals.append(signum)
            stop.stop(reason)

        on_stop_signals(asyncio.get_running_loop(), on_signal)
        try:
            with progress:
                result = await run_eval(
                    loaded,
                    dataset.cases,
                    names,
                    repeat=repeat,
                    concurrency=concurrency,
                    max_cost_usd=cap,
                    writer=sink,
                    judge_model=judge_model,
                    on_progress=on_progress,
                    cache=cache,
                    pairwise=pairwise,
                    stop=stop,
                    on_note=lambda line: err.print(line, style="dim", highlight=False, soft_wrap=True),
                )
        finally:
            if writer is not None:
                writer.close()
            if tracer is not None:
                tracer.close()
        summary = summarize(result)
        summary["eval_id"] = eval_id
        diff = None
        if base_shares is not None:
            diff = baseline_diff(case_shares(result.outcomes), base_shares)
            summary["baseline"] = {"eval_id": baseline, "diff": diff}
        if not no_save:
            from workbench.eval.store import save_eval

            save_eval(
                db,
                eval_id,
                result,
                summary,
                loaded=loaded,
                dataset=dataset,
                concurrency=concurrency,
                max_cost_usd=cap,
                cache_new={k: v for k, v in (cache or {}).items() if k not in known},
            )
        return result, summary, diff

    result, summary, diff = asyncio.run(main())
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        _render(summary, diff, baseline, eval_id)
    if result.stopped:
        done = sum(o.status not in ("skipped", "cancelled") for o in result.outcomes)
        cancelled = sum(o.status == "cancelled" for o in result.outcomes)
        also = f" ({cancelled} in flight cancelled)" if cancelled else ""
        click.echo(f"stopped: {result.stopped} after {done} of {len(result.outcomes)} runs{also}", err=True)
        raise SystemExit(128 + signals[0] if signals else 1)
