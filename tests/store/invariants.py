"""An independent reading of a session database with sqlite-utils: do every run's hops add up to the run?"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import sqlite_utils


def check_invariants(path: Path) -> int:
    """Assert, for every run: exact hop costs sum to the run's cost_exact, cost_usd is its float, token totals
    are the sums over attempt hops, hop_count matches, and the run has its prompt message. Returns run count."""
    db = sqlite_utils.Database(path)
    try:
        costs: dict[str, Decimal] = defaultdict(Decimal)
        tokens: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        hop_counts: dict[str, int] = defaultdict(int)
        for hop in db["hops"].rows:
            costs[hop["run_id"]] += Decimal(hop["cost_exact"])
            assert float(Decimal(hop["cost_exact"])) == hop["cost_usd"], hop
            hop_counts[hop["run_id"]] += 1
            if hop["kind"] == "attempt":
                tokens[hop["run_id"]][0] += hop["input_tokens"]
                tokens[hop["run_id"]][1] += hop["output_tokens"]
        prompts = {m["run_id"] for m in db["messages"].rows_where("seq = 0 and role = 'user'")}
        n = 0
        for run in db["runs"].rows:
            rid = run["id"]
            assert Decimal(run["cost_exact"]) == costs[rid], (rid, run["cost_exact"], costs[rid])
            assert run["cost_usd"] == float(Decimal(run["cost_exact"])), rid
            assert [run["input_tokens"], run["output_tokens"]] == tokens[rid], rid
            assert run["hop_count"] == hop_counts[rid], rid
            assert rid in prompts, rid
            n += 1
        orphans = db.execute("select count(*) from hops where run_id not in (select id from runs)").fetchone()[0]
        assert orphans == 0
        return n
    finally:
        db.close()
