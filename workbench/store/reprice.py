"""Re-costing saved runs on other prices (`workbench sessions reprice`), without touching the database.

Two questions: "what would these runs cost at today's prices?" (each attempt hop priced as the model it ran on,
with the profile's price entry in force on a given day) and "what would last month have cost on model X?"
(`model=X`: every attempt hop priced as if it had run on X).

    with open_readonly(db) as store:
        result = reprice(store, load_profile("profiles/openai.yaml"), since=dt.date(2026, 10, 1), model="mini")
    result.original, result.repriced, result.delta, result.to_dict()

- Read-only by construction: the file is opened with SQLite's `mode=ro`, so nothing here can write to it.
- Each attempt hop is re-costed from its stored usage buckets (never by re-counting text) with `cost_of`, so
  cache reads/writes, reasoning and long-context tiers follow the same rules as the original call. With a model
  override the token counts are still those the original model reported; another model's tokenizer could
  have counted the same text differently.
- A hop that cannot be re-costed (its model is not in the profile, no price entry in force that day, or no usage
  recorded) keeps its original cost and is listed as unpriced. Other hops (steps) keep their cost, which is 0.
- Every figure is a Decimal: a run's repriced cost is its stored `cost_exact` plus the exact change of its attempt
  hops; the totals are exact sums over the runs.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.accounting.money import exact_text
from workbench.accounting.prices import Price, select_price
from workbench.accounting.usage import Usage, cost_of
from workbench.errors import StoreError, WorkbenchError
from workbench.store import migrations
from workbench.store.db import connect, default_busy_timeout, resolve_db_path
from workbench.store.queries import resolve_run_id
from workbench.store.store import Store, _check_version

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile

ZERO = Decimal(0)
_BUCKETS = (  # hops column -> Usage field
    ("usage_input", "input_tokens"),
    ("usage_cache_read", "cache_read_tokens"),
    ("usage_cache_write_5m", "cache_write_5m_tokens"),
    ("usage_cache_write_1h", "cache_write_1h_tokens"),
    ("usage_output", "output_tokens"),
    ("usage_reasoning", "reasoning_tokens"),
)


class RepriceError(WorkbenchError):
    title = "cannot reprice"


@dataclass(frozen=True, slots=True)
class HopCost:
    hop_id: str
    model: str | None  # the alias the hop ran on
    priced_as: str | None  # the alias whose price was applied; None when the hop was not re-costed
    original: Decimal
    repriced: Decimal
    price_effective: str | None = None
    tier: int | None = None  # index of the long-context tier applied, None for base rates
    unpriced: str | None = None  # why the hop kept its original cost

    def to_dict(self) -> dict[str, Any]:
        return {
            "hop_id": self.hop_id,
            "model": self.model,
            "priced_as": self.priced_as,
            "original": text(self.original),
            "repriced": text(self.repriced),
            "price_effective": self.price_effective,
            "tier": self.tier,
            "unpriced": self.unpriced,
        }


@dataclass(slots=True)
class RunCost:
    run_id: str
    route: str | None
    session: str | None
    started_ts: float | None
    started_at: str | None
    original: Decimal  # the run's stored cost_exact
    hops: list[HopCost] = field(default_factory=list)  # its attempt hops

    @property
    def repriced(self) -> Decimal:
        return self.original + sum((h.repriced - h.original for h in self.hops), ZERO)

    @property
    def delta(self) -> Decimal:
        return self.repriced - self.original

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            "route": self.route,
            "session": self.session,
            "started_at": self.started_at,
            **_figures(self.original, self.repriced),
            "unpriced_hops": sum(1 for h in self.hops if h.unpriced),
            "hops": [h.to_dict() for h in self.hops],
        }


@dataclass(slots=True)
class Repricing:
    """The outcome: each run's original and repriced cost, and the exact totals."""

    on: dt.date
    model: str | None
    profile: str | None
    runs: list[RunCost]

    @property
    def original(self) -> Decimal:
        return sum((r.original for r in self.runs), ZERO)

    @property
    def repriced(self) -> Decimal:
        return sum((r.repriced for r in self.runs), ZERO)

    @property
    def delta(self) -> Decimal:
        return self.repriced - self.original

    def unpriced(self) -> list[tuple[RunCost, HopCost]]:
        return [(r, h) for r in self.runs for h in r.hops if h.unpriced]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "on": self.on.isoformat(),
            "model": self.model,
            "runs": [r.to_dict() for r in self.runs],
            "total": {
                "runs": len(self.runs),
                **_figures(self.original, self.repriced),
                "unpriced_hops": len(self.unpriced()),
            },
        }


def text(value: Decimal) -> str:
    """An exact decimal string without trailing zeros or exponent notation (see workbench.accounting.money)."""
    return exact_text(value)


def delta_pct(original: Decimal, repriced: Decimal) -> Decimal | None:
    """The change in percent of the original, to 0.01 (None when the original is zero: no ratio exists)."""
    if original == 0:
        return None
    return ((repriced - original) * 100 / original).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _figures(original: Decimal, repriced: Decimal) -> dict[str, Any]:
    pct = delta_pct(original, repriced)
    return {
        "original": text(original),
        "repriced": text(repriced),
        "delta": text(repriced - original),
        "delta_pct": None if pct is None else text(pct),
    }


# -- opening and selecting ----------------------------------------------------------------------------------------


def open_readonly(db: str | os.PathLike[str] | None = None) -> Store:
    """The session database opened read-only (SQLite `mode=ro`): an existing file, never created or migrated.

    Only schema 1's columns are read, so an older database works without its (write-needing) upgrade; one from
    a newer workbench is refused."""
    path = resolve_db_path(db)
    if not path.is_file():
        raise StoreError(
            f"there is no session database at {path}",
            hint="runs are saved there by `workbench run`; use --db or $WORKBENCH_DB for another file",
        )
    timeout = default_busy_timeout()
    try:
        conn = connect(path, readonly=True, busy_timeout=timeout)
    except StoreError:
        # As Store does for a read-only directory: without a -wal file the database file alone is complete.
        if Path(f"{path}-wal").exists():
            raise
        conn = connect(path, readonly=True, immutable=True, busy_timeout=timeout)
    store = Store(path, conn, readonly=True, busy_timeout=timeout)
    try:
        with store.errors("reading the schema version"):
            _check_version(store.db, path)
            if not migrations.applied(store.db):
                raise StoreError(f"{path} is not a workbench session database (it has no workbench tables)")
    except BaseException:
        store.close()
        raise
    return store


def _utc_start(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()


def select_runs(
    store: Store,
    refs: Iterable[str] = (),
    *,
    session: str | None = None,
    route: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[dict[str, Any]]:
    """The runs to reprice, oldest first: the given ids (full or unique prefixes; all runs when none), narrowed
    by session, route and UTC start day (`since`/`until` both inclusive). Raises when nothing is selected."""
    if since and until and since > until:
        raise RepriceError(f"--since {since} is after --until {until}: no day is selected")
    where: list[str] = []
    params: list[Any] = []
    with store.errors("reading"):
        ids = list(dict.fromkeys(resolve_run_id(store, ref) for ref in refs))
        for clause, value in (
            ("session = ?", session),
            ("route = ?", route),
            ("started_ts >= ?", since and _utc_start(since)),
            ("started_ts < ?", until and _utc_start(until + dt.timedelta(days=1))),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        if ids:
            where.append(f"id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        sql = (
            "SELECT id, session, route, started_ts, started_at, cost_exact FROM runs"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY started_ts, id"
        )
        cur = store.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=False)) for row in cur.fetchall()]
    if not rows:
        told = [f"{len(ids)} run id(s)"] if ids else []
        told += [
            f"{name} {value}"
            for name, value in (("--session", session), ("--route", route), ("--since", since), ("--until", until))
            if value
        ]
        raise RepriceError(
            f"no runs selected in {store.path}" + (f" ({', '.join(told)})" if told else ""),
            hint="see `workbench sessions list` for saved runs, their sessions and routes",
        )
    return rows


# -- pricing ------------------------------------------------------------------------------------------------------


def _override_price(loaded: LoadedProfile, alias: str, on: dt.date) -> Price:
    models = loaded.profile.models
    where = f" in {loaded.path}" if loaded.path else ""
    if alias not in models:
        raise RepriceError(
            f"--model {alias!r} is not a model of the profile{where}",
            hint=f"its models: {', '.join(models)}",
            title="unknown model",
        )
    price = select_price(models[alias].prices, on)
    if price is None:
        dates = sorted(p.effective.isoformat() for p in models[alias].prices)
        known = f"its entries take effect on {', '.join(dates)}" if dates else "it has no prices"
        raise RepriceError(
            f"model {alias!r}{where} has no price in force on {on} ({known})",
            hint="choose another --on day or model",
            title="no price",
        )
    return price


def _usage(hop: dict[str, Any]) -> Usage | None:
    if all(hop[col] is None for col, _ in _BUCKETS):
        return None
    counts = {name: int(hop[col] or 0) for col, name in _BUCKETS}
    return Usage(
        input_tokens=counts["input_tokens"],
        cache_read_tokens=counts["cache_read_tokens"],
        cache_write_5m_tokens=counts["cache_write_5m_tokens"],
        cache_write_1h_tokens=counts["cache_write_1h_tokens"],
        output_tokens=counts["output_tokens"],
        reasoning_tokens=counts["reasoning_tokens"],
    )


def reprice_hop(
    hop: dict[str, Any], loaded: LoadedProfile, on: dt.date, override: tuple[str, Price] | None = None
) -> HopCost:
    """One attempt hop (a `hops` row) re-costed: as the `override` model when given, else as its own model."""
    original = Decimal(hop["cost_exact"])
    alias, price = override if override else (hop["model"], None)
    keep = HopCost(hop["hop_id"], hop["model"], None, original, original)
    if price is None:
        model = loaded.profile.models.get(alias or "")
        if model is None:
            return _unpriced(keep, f"model {alias!r} is not in the profile")
        price = select_price(model.prices, on)
        if price is None:
            return _unpriced(keep, f"model {alias!r} has no price in force on {on}")
    usage = _usage(hop)
    if usage is None:
        if original:  # money was spent but the buckets it was spent on are unknown
            return _unpriced(keep, "no usage recorded")
        usage = Usage()  # never called (refused by a cap, cancelled before sending): nothing to price
    cost = cost_of(usage, price)
    return HopCost(hop["hop_id"], hop["model"], alias, original, cost.total, cost.price_effective, cost.tier)


def _unpriced(hop: HopCost, why: str) -> HopCost:
    return HopCost(hop.hop_id, hop.model, None, hop.original, hop.original, unpriced=why)


def reprice(
    store: Store,
    loaded: LoadedProfile,
    refs: Iterable[str] = (),
    *,
    session: str | None = None,
    route: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    on: dt.date | None = None,
    model: str | None = None,
) -> Repricing:
    """Re-cost the selected runs (see `select_runs`) on `loaded`'s prices in force on `on` (default today),
    every attempt as `model` when given. Reads only."""
    day = on or dt.date.today()
    override = (model, _override_price(loaded, model, day)) if model is not None else None
    rows = select_runs(store, refs, session=session, route=route, since=since, until=until)
    cols = ", ".join(["hop_id", "model", "cost_exact", *(col for col, _ in _BUCKETS)])
    runs: list[RunCost] = []
    with store.errors("reading hops"):
        for row in rows:
            hops = store.conn.execute(
                f"SELECT {cols} FROM hops WHERE run_id = ? AND kind = 'attempt' ORDER BY seq", (row["id"],)
            )
            names = [d[0] for d in hops.description]
            runs.append(
                RunCost(
                    row["id"],
                    row["route"],
                    row["session"],
                    row["started_ts"],
                    row["started_at"],
                    Decimal(row["cost_exact"]),
                    [reprice_hop(dict(zip(names, h, strict=False)), loaded, day, override) for h in hops.fetchall()],
                )
            )
    return Repricing(day, model, str(loaded.path) if loaded.path else None, runs)
