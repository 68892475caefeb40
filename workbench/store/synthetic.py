"""Synthetic saved runs, inserted in bulk: large session databases for the session browser's tests and benchmark.

    with open_store(path) as store:
        fill(store, 100_000)            # ~100k runs with a step and an attempt hop each, in one transaction

Rows use the store's own column lists (records.py) and go through the same INSERT statements as the writer
(persist.insert_sql), so the FTS triggers index them as they would a real run. Everything is deterministic:
run `i` starts at `T0 + i * STEP_S` seconds, has id `run-{i:08d}`, and its route, status, model, cost and
prompt words follow from `i` alone (see `synthetic_run`), so tests can compute expected rows by hand.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from workbench.store.persist import insert_sql
from workbench.store.records import HOP_COLUMNS, RUN_COLUMNS, SESSION_COLUMNS, iso_utc

if TYPE_CHECKING:
    from workbench.store.store import Store

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z: fixed, so snapshots and expectations never depend on today
STEP_S = 60.0  # one run a minute
ROUTES = ("default", "fallback", "support", "research")
MODELS = ("swift", "steady", "sage")
WORDS = (
    "refund policy invoice shipping delay password reset account locked billing error timeout latency"
    " connection pool database migration deploy rollback cache eviction summary incident postmortem outage"
    " customer escalation translate german french poem haiku weather forecast recipe pasta budget travel"
).split()


def status_of(i: int) -> str:
    """Run i's status: every 10th an error, every 15th (not 10th) degraded, every 49th of the rest cancelled."""
    if i % 10 == 0:
        return "error"
    if i % 15 == 0:
        return "degraded"
    if i % 49 == 0:
        return "cancelled"
    return "ok"


def cost_of(i: int) -> Decimal:
    """Run i's cost: (i mod 100) ten-thousandths of a dollar."""
    return Decimal(i % 100) / Decimal(10_000)


def prompt_of(i: int) -> str:
    """Six words picked by a small LCG seeded with i (deterministic), then the run's number as a word of its own."""
    x, n, words = (i * 2654435761) & 0x7FFFFFFF, len(WORDS), []
    for _ in range(6):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        words.append(WORDS[(x >> 8) % n])
    return " ".join(words) + f" n{i}"


def synthetic_run(i: int, session: str = "synthetic") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run i as a `runs` row and its two `hops` rows (a step and its one attempt)."""
    run_id = f"run-{i:08d}"
    started = T0 + i * STEP_S
    latency = 200.0 + (i % 37) * 25.0
    status = status_of(i)
    cost = cost_of(i)
    model = MODELS[i % len(MODELS)]
    tin, tout = 20 + i % 50, 40 + i % 200
    prompt = prompt_of(i)
    output = "" if status == "error" else f"answer {i}: " + " ".join(reversed(prompt.split()[:6]))
    error = "HTTP 503 from the provider" if status == "error" else None
    run: dict[str, Any] = {c: None for c in RUN_COLUMNS}
    run.update(
        id=run_id,
        session=session,
        route=ROUTES[i % len(ROUTES)],
        profile="synthetic",
        profile_hash=None,
        prompt=prompt,
        output=output,
        status=status,
        error=error,
        started_at=iso_utc(started),
        started_ts=started,
        ended_ts=started + latency / 1000,
        latency_ms=latency,
        ttft_ms=None if error else latency / 4,
        input_tokens=tin,
        output_tokens=tout,
        cost_usd=float(cost),
        cost_exact=str(cost),
        estimated=0,
        hop_count=2,
        event_schema=2,
    )
    common: dict[str, Any] = {c: None for c in HOP_COLUMNS}
    step: dict[str, Any] = dict(common)
    step.update(
        run_id=run_id,
        hop_id=f"{run_id}.1",
        seq=0,
        kind="step",
        name="answer",
        status=status,
        started_ts=started,
        ended_ts=started + latency / 1000,
        latency_ms=latency,
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
        cost_exact="0",
    )
    attempt: dict[str, Any] = dict(common)
    attempt.update(
        run_id=run_id,
        hop_id=f"{run_id}.2",
        parent_id=f"{run_id}.1",
        seq=1,
        kind="attempt",
        name=model,
        provider="sim",
        model=model,
        model_id=f"sim-{model}",
        attempt=1,
        target_index=0,
        status=status,
        error=error,
        started_ts=started + 0.001,
        first_token_ts=None if error else started + latency / 4000,
        ended_ts=started + latency / 1000,
        latency_ms=latency - 1,
        ttft_ms=None if error else latency / 4,
        input_tokens=tin,
        output_tokens=tout,
        usage_input_source="provider",
        usage_output_source="provider",
        cost_usd=float(cost),
        cost_exact=str(cost),
        output=output,
    )
    return run, [step, attempt]


def fill(store: Store, n: int, *, start: int = 0, session: str = "synthetic", batch: int = 5_000) -> None:
    """Insert runs start..start+n-1 (see `synthetic_run`) into an open, writable store, in one transaction.

    The FTS triggers are set aside while the rows go in and the index is rebuilt once at the end (4x faster than
    a trigger per row for 100,000 runs); the triggers come back with their own SQL, so the schema is unchanged.
    """
    # the columns this database has: a test may fill one left at an older migration (columns added later are NULL)
    have = {row[1] for row in store.conn.execute('PRAGMA table_info("hops")')}
    hop_columns = tuple(c for c in HOP_COLUMNS if c in have)
    run_sql, hop_sql = insert_sql("runs", RUN_COLUMNS), insert_sql("hops", hop_columns)
    store.conn.execute("PRAGMA cache_size = -131072")  # 128 MiB: five indexes over 200,000 hops
    with store.transaction(f"inserting {n:,} synthetic runs") as conn:
        found = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'runs'")
        triggers: list[tuple[str, str]] = found.fetchall()
        for name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute(
            insert_sql("sessions", SESSION_COLUMNS, "INSERT OR IGNORE"), (session, T0, iso_utc(T0), None, None)
        )
        for lo in range(start, start + n, batch):
            runs: list[tuple[Any, ...]] = []
            hops: list[tuple[Any, ...]] = []
            for i in range(lo, min(lo + batch, start + n)):
                run, run_hops = synthetic_run(i, session)
                runs.append(tuple(run[c] for c in RUN_COLUMNS))
                hops.extend(tuple(h[c] for c in hop_columns) for h in run_hops)
            conn.executemany(run_sql, runs)
            conn.executemany(hop_sql, hops)
        if triggers:
            conn.execute("INSERT INTO runs_fts (runs_fts) VALUES ('rebuild')")
        for _, sql in triggers:
            conn.execute(sql)
