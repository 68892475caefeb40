"""Child process for the SIGKILL test: save batches of runs forever, printing each run id once it is committed.

    python crash_child.py DB events BATCH     runs built from the event dataclasses
    python crash_child.py DB engine BATCH     runs made by the engine against the embedded simulator

Each printed line is "RUN_ID HOP_COUNT", written only after `writer.flush()` returned True for its batch. The
parent kills this process with SIGKILL at a random moment and then checks the database.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from store_events import PROFILE_HASH, PROFILE_TEXT, varied_runs  # noqa: E402

from workbench.store import EventWriter  # noqa: E402

ENGINE_PROFILE = """
name: crash-test
sim: {seed: 3}
providers:
  oai: {kind: sim, wire: openai}
models:
  mini:
    provider: oai
    model: sim-mini
    prices: [{effective: 2026-01-01, input: 0.15, cached_input: 0.075, output: 0.60}]
    sim: {ttft_ms: 0, tokens_per_s: 1000000, answer_tokens: 20}
  broken:
    provider: oai
    model: sim-broken
    prices: [{input: 2.5, output: 10}]
    sim: {ttft_ms: 0, tokens_per_s: 1000000, faults: [{kind: http_503, rate: 1.0}]}
routes:
  fallback: {steps: [{name: answer, targets: [broken, mini]}, {name: polish, targets: [mini]}]}
"""


def _emit(lines: list[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def events_mode(writer: EventWriter, batch: int) -> None:
    writer.register_profile(PROFILE_HASH, PROFILE_TEXT, "profiles/store-test.yaml")
    # Built ahead, so that the time between two reports is mostly the writer's assembling and committing:
    # that is where the parent's kill should land.
    ahead = varied_runs(batch * 12)
    while True:
        runs, ahead = ahead[:batch], ahead[batch:] or varied_runs(batch * 12)
        for run in runs:
            for event in run:
                writer.submit(event)
        if not writer.flush(30):
            raise SystemExit("flush timed out")
        _emit([f"{run[0].run_id} {len({getattr(e, 'hop_id', None) for e in run} - {None})}" for run in runs])


async def engine_mode(writer: EventWriter, batch: int) -> None:
    from workbench.engine import Engine
    from workbench.profiles.load import loads_profile

    loaded = loads_profile(ENGINE_PROFILE, "crash-test.yaml")
    writer.register_profile(loaded.sha256, loaded.text, "crash-test.yaml")
    async with Engine(loaded) as engine:
        n = 0
        while True:

            async def one(i: int) -> tuple[str, int]:
                hops: set[str] = set()
                run_id = ""
                async for event in engine.run(f"crash test prompt {i}", route="fallback"):
                    writer.submit(event)
                    run_id = event.run_id
                    hop = getattr(event, "hop_id", None)
                    if hop:
                        hops.add(hop)
                return run_id, len(hops)

            done = await asyncio.gather(*(one(n + i) for i in range(batch)))
            n += batch
            if not await asyncio.to_thread(writer.flush, 30):
                raise SystemExit("flush timed out")
            _emit([f"{run_id} {hops}" for run_id, hops in done])


def main() -> None:
    db, mode, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    writer = EventWriter(db, session=f"crash-{mode}")
    if mode == "engine":
        asyncio.run(engine_mode(writer, batch))
    else:
        events_mode(writer, batch)


if __name__ == "__main__":
    main()
