"""Session store benchmark: saving runs through EventWriter vs a bare sqlite3 insert, FTS search, size on disk.

    .venv/bin/python benchmarks/store.py                  # 10,000 runs x 5 hops; search over 100,000 runs
    .venv/bin/python benchmarks/store.py --runs 1000 --search-runs 10000   # quicker

1. Save: N runs of 5 hops each (step -> failed attempt + fallback attempt, step -> attempt), with their
   first-token, token (24 per successful attempt) and decision events, submitted to an EventWriter and timed
   until `flush()` returns. Baseline, in the same run: the same rows (already built) inserted into a fresh
   database of the same schema (FTS triggers included) with bare sqlite3 `executemany` in one transaction.
   The ratio is the writer's whole cost (assembling events into rows, batching, its thread) over SQLite's own.
2. Search: p50/p95 of `Store.search` (FTS5 MATCH + snippets + rank, 20 rows, the `sessions search` query) over
   a database of M runs, for single words, two-word AND, phrases and prefixes.
3. Size: database bytes per run after the writer closed (checkpointed), with the FTS index.
Not a test: figures depend on the machine. Runs offline; writes only under a temporary directory.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.accounting.prices import Price  # noqa: E402
from workbench.accounting.usage import Usage, cost_of  # noqa: E402
from workbench.engine.events import (  # noqa: E402
    Decision,
    Event,
    FirstToken,
    HopFinished,
    HopStarted,
    RunFinished,
    RunStarted,
    Token,
)
from workbench.store import EventWriter, open_store  # noqa: E402
from workbench.store.persist import insert_sql  # noqa: E402
from workbench.store.records import DECISION_COLUMNS, HOP_COLUMNS, MESSAGE_COLUMNS, RUN_COLUMNS  # noqa: E402
from workbench.store.writer import assemble  # noqa: E402

PRICE = Price(input=Decimal("2.50"), cached_input=Decimal("1.25"), output=Decimal("10"))
CHEAP = Price(input=Decimal("0.15"), output=Decimal("0.60"))


class Text:
    """Deterministic English-like text: a 5,000-word vocabulary drawn with a Zipf-like skew."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        syllables = ["ka", "lo", "mi", "tre", "sun", "po", "ra", "vel", "ing", "dor", "fa", "qui", "ben", "sto"]
        words = {"".join(self.rng.choice(syllables) for _ in range(self.rng.randint(1, 4))) for _ in range(20000)}
        self.vocab = sorted(words)[:5000]
        self.rng.shuffle(self.vocab)
        self.weights = [1.0 / (i + 1) for i in range(len(self.vocab))]

    def words(self, n: int) -> list[str]:
        return self.rng.choices(self.vocab, self.weights, k=n)


def make_run(i: int, text: Text, t0: float) -> list[Event]:
    run_id = f"bench{i:08d}"
    clock = iter(t0 + k * 0.001 for k in range(10_000))
    prompt = " ".join(text.words(30))
    ev: list[Event] = [
        RunStarted(run_id=run_id, ts=next(clock), route="bench", prompt=prompt, profile="bench", profile_hash="0" * 64),
        Decision(run_id=run_id, ts=next(clock), hop_id=None, action="route", reason="bench route", target="bench"),
    ]
    total = Decimal(0)
    tin = tout = 0
    hop = 0
    out_text = ""
    for step, attempts in (("draft", (("primary", False), ("backup", True))), ("polish", (("primary", True),))):
        hop += 1
        step_id = f"{run_id}.{hop}"
        s0 = next(clock)
        ev.append(HopStarted(run_id=run_id, ts=s0, hop_id=step_id, kind="step", name=step))
        for n, (alias, ok) in enumerate(attempts, 1):
            hop += 1
            hop_id = f"{run_id}.{hop}"
            a0 = next(clock)
            ev.append(
                HopStarted(
                    run_id=run_id,
                    ts=a0,
                    hop_id=hop_id,
                    parent_id=step_id,
                    kind="attempt",
                    name=alias,
                    provider="sim",
                    model=alias,
                    model_id=alias + "-1",
                    attempt=n,
                )
            )
            words = text.words(24) if ok else []
            if ok:
                ev.append(FirstToken(run_id=run_id, ts=next(clock), hop_id=hop_id, ttft_ms=1.0))
                ev.extend(Token(run_id=run_id, ts=next(clock), hop_id=hop_id, text=w + " ") for w in words)
            usage = Usage(
                input_tokens=40, output_tokens=len(words) * 5, input_source="reported", output_source="reported"
            )
            price = PRICE if alias == "backup" else CHEAP
            cost = cost_of(usage, price) if ok else cost_of(Usage(), price)
            total += cost.total
            tin += usage.prompt_tokens if ok else 0
            tout += usage.completion_tokens if ok else 0
            out = " ".join(words) * 5
            a1 = next(clock)
            ev.append(
                HopFinished(
                    run_id=run_id,
                    ts=a1,
                    hop_id=hop_id,
                    parent_id=step_id,
                    kind="attempt",
                    name=alias,
                    provider="sim",
                    model=alias,
                    model_id=alias + "-1",
                    attempt=n,
                    status="ok" if ok else "error",
                    latency_ms=(a1 - a0) * 1000,
                    ttft_ms=1.0 if ok else None,
                    input_tokens=usage.prompt_tokens if ok else 0,
                    output_tokens=usage.completion_tokens if ok else 0,
                    cost_usd=cost.total,
                    error=None if ok else "HTTP 503",
                    error_class=None if ok else "server",
                    usage=usage.to_dict() if ok else None,
                    cost=cost.to_dict(),
                    price=price.model_dump(mode="json"),
                    started_ts=a0,
                    output=out if ok else "",
                )
            )
            if ok:
                out_text = out
            else:
                ev.append(
                    Decision(
                        run_id=run_id,
                        ts=next(clock),
                        hop_id=step_id,
                        action="fallback",
                        reason="primary failed (server); falling back",
                        target="backup",
                    )
                )
        s1 = next(clock)
        ev.append(
            HopFinished(
                run_id=run_id,
                ts=s1,
                hop_id=step_id,
                kind="step",
                name=step,
                status="ok",
                latency_ms=(s1 - s0) * 1000,
                output=out_text,
            )
        )
    end = next(clock)
    ev.append(
        RunFinished(
            run_id=run_id,
            ts=end,
            status="ok",
            output=out_text,
            latency_ms=(end - t0) * 1000,
            ttft_ms=1.0,
            input_tokens=tin,
            output_tokens=tout,
            cost_usd=total,
            cost=str(total),
        )
    )
    return ev


def make_runs(n: int, seed: int = 7) -> list[list[Event]]:
    text = Text(seed)
    return [make_run(i, text, 1_790_000_000.0 + i) for i in range(n)]


def save_with_writer(db: Path, runs: list[list[Event]]) -> tuple[float, float]:
    """Seconds until every run is committed, and the caller's own seconds spent in submit()."""
    writer = EventWriter(db)
    submit = writer.submit
    t0 = time.perf_counter()
    spent = 0.0
    for run in runs:
        s = time.perf_counter()
        for event in run:
            submit(event)
        spent += time.perf_counter() - s
    assert writer.flush(600), "flush timed out"
    elapsed = time.perf_counter() - t0
    writer.close()
    assert writer.errors == [] and writer.saved == len(runs), writer.errors
    return elapsed, spent


def save_baseline(db: Path, runs: list[list[Event]]) -> float:
    records, _ = assemble((e for r in runs for e in r), "default")  # rows built before the clock starts
    tables = [
        (insert_sql("runs", RUN_COLUMNS), [tuple(r.run[c] for c in RUN_COLUMNS) for r in records]),
        (insert_sql("hops", HOP_COLUMNS), [tuple(h[c] for c in HOP_COLUMNS) for r in records for h in r.hops]),
        (
            insert_sql("messages", MESSAGE_COLUMNS),
            [tuple(m[c] for c in MESSAGE_COLUMNS) for r in records for m in r.messages],
        ),
        (
            insert_sql("decisions", DECISION_COLUMNS),
            [tuple(d[c] for c in DECISION_COLUMNS) for r in records for d in r.decisions],
        ),
    ]
    store = open_store(db)  # the same schema, FTS triggers and pragmas
    conn = store.conn
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for sql, rows in tables:
        conn.executemany(sql, rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed


def search_latencies(db: Path, queries: list[str]) -> list[float]:
    out = []
    with open_store(db) as store:
        store.search(queries[0])  # warm the page cache once
        for q in queries:
            t0 = time.perf_counter()
            store.search(q, 20)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--search-runs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wb-store-bench-") as tmp:
        folder = Path(tmp)
        print(f"building {args.runs:,} runs of 5 hops ...", flush=True)
        runs = make_runs(args.runs)
        n_events = sum(len(r) for r in runs)
        text_bytes = sum(
            len(e.prompt.encode()) if isinstance(e, RunStarted) else len((e.output or "").encode())
            for r in runs
            for e in r
            if isinstance(e, RunStarted) or (isinstance(e, HopFinished) and e.kind == "attempt")
        )
        writer_s, submit_s = save_with_writer(folder / "writer.db", runs)
        base_s = save_baseline(folder / "baseline.db", runs)
        size = (folder / "writer.db").stat().st_size
        print(f"\nsave {args.runs:,} runs x 5 hops ({n_events:,} events, {args.runs * 5:,} hop rows)")
        print(
            f"  EventWriter, submit to flushed : {writer_s:7.2f} s  {args.runs / writer_s:9,.0f} runs/s"
            f"  {writer_s / args.runs * 1e6:7.1f} us/run"
        )
        print(
            f"  bare sqlite3 executemany       : {base_s:7.2f} s  {args.runs / base_s:9,.0f} runs/s"
            f"  {base_s / args.runs * 1e6:7.1f} us/run"
        )
        print(f"  ratio writer / baseline        : {writer_s / base_s:7.2f} x")
        print(
            f"  caller's time in submit()      : {submit_s / n_events * 1e9:7.0f} ns/event"
            f"  ({submit_s / args.runs * 1e6:.1f} us/run, on the caller's thread)"
        )
        print(
            f"  size on disk                   : {size / args.runs:7,.0f} bytes/run  ({size / 1e6:.1f} MB; the"
            f" runs' distinct text, prompt + attempt outputs, is {text_bytes / args.runs:,.0f} bytes/run)"
        )
        del runs

        print(f"\nbuilding {args.search_runs:,} runs for search ...", flush=True)
        big = folder / "search.db"
        text = Text(11)
        writer = EventWriter(big)
        t0 = time.perf_counter()
        for i in range(args.search_runs):
            for event in make_run(i, text, 1_790_000_000.0 + i):
                writer.submit(event)
        writer.close()
        build_s = time.perf_counter() - t0
        big_size = big.stat().st_size
        rng = random.Random(3)
        vocab = text.vocab
        kinds = {
            "word": lambda: rng.choice(vocab[:500]),
            "rare word": lambda: rng.choice(vocab[2000:]),
            "a AND b": lambda: f"{rng.choice(vocab[:300])} {rng.choice(vocab[:300])}",
            "phrase": lambda: f'"{rng.choice(vocab[:50])} {rng.choice(vocab[:50])}"',
            "prefix*": lambda: rng.choice(vocab[:200])[:3] + "*",
        }
        print(
            f"  built and saved through EventWriter in {build_s:.1f} s ({args.search_runs / build_s:,.0f} runs/s),"
            f" {big_size / args.search_runs:,.0f} bytes/run ({big_size / 1e6:.0f} MB)"
        )
        print(f"\nFTS search over {args.search_runs:,} runs (Store.search: MATCH + snippets + rank, limit 20)")
        every: list[float] = []
        for kind, make in kinds.items():
            lat = search_latencies(big, [make() for _ in range(max(1, args.queries // len(kinds)))])
            every += lat
            print(f"  {kind:10s}: p50 {pct(lat, 0.5):7.2f} ms   p95 {pct(lat, 0.95):7.2f} ms")
        print(
            f"  {'all':10s}: p50 {pct(every, 0.5):7.2f} ms   p95 {pct(every, 0.95):7.2f} ms"
            f"   (mean {statistics.fmean(every):.2f} ms over {len(every)} queries)"
        )


if __name__ == "__main__":
    main()
