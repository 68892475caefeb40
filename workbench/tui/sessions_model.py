"""The session browser's view models, without Textual: the filter syntax, the page cache, recorded runs as
waterfalls, and the deltas of a re-run.

- `parse_query("refund route:support status:error")` -> the store's `RunFilter` and any problems, in words.
- `RunPages`: which rows of a (possibly 100,000-run) listing are in memory, in pages; it says how to fetch a
  missing page by key from a neighbour (`before` the page above's last row, `after` the page below's first row,
  the oldest rows for the last page), falling back to an offset only for a jump into the middle. At most
  `max_pages` pages are held; the ones farthest from the cursor are dropped.
- `recorded_state(detail)`: a stored run (runs/hops/decisions rows) as the `RunState` the playground's waterfall
  draws, on the run's own recorded time axis.
- `deltas(recorded, new)`: latency, TTFT, tokens, cost and status of a re-run against the recorded run.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from workbench.store.browse import STATUSES, RunFilter
from workbench.tui.fmt import usd
from workbench.tui.runner import HopRow, RunState

FILTER_KEYS = ("route", "status", "model", "session", "since", "until", "cost")
SYNTAX = (
    "words search prompts and answers (the last word as a prefix: results as you type); route:NAME status:"
    + "|".join(STATUSES)
    + " model:ALIAS session:NAME since:YYYY-MM-DD until:YYYY-MM-DD (inclusive, UTC) cost>0.001 (at least, in $)"
)


# -- the filter syntax -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class ParsedQuery:
    filters: RunFilter
    problems: list[str] = field(default_factory=list)


def _date(value: str, key: str, problems: list[str]) -> dt.datetime | None:
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    problems.append(f"{key}:{value} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)")
    return None


def parse_query(text: str) -> ParsedQuery:
    """The search box's text as filters: `key:value` terms (see SYNTAX), every other word full-text."""
    fields: dict[str, Any] = {}
    words: list[str] = []
    problems: list[str] = []
    for token in text.split():
        low = token.lower()
        if low.startswith(("cost>=", "cost>", "cost:")):
            raw = token.split(">=", 1)[1] if ">=" in token else token[5:]
            try:
                fields["min_cost"] = float(Decimal(raw.lstrip("$")))
            except (InvalidOperation, ValueError):
                problems.append(f"{token}: the cost must be a number of dollars, e.g. cost>0.001")
            continue
        key, sep, value = token.partition(":")
        key = key.lower()
        if not sep or key not in FILTER_KEYS:
            words.append(token)
            continue
        if not value:
            problems.append(f"{token} needs a value, e.g. {key}:{'error' if key == 'status' else '…'}")
        elif key == "status":
            if value.lower() not in STATUSES:
                problems.append(f"status:{value} is not one of {', '.join(STATUSES)}")
            else:
                fields["status"] = value.lower()
        elif key in ("since", "until"):
            when = _date(value, key, problems)
            if when is not None:
                if key == "until" and len(value) == 10:
                    when += dt.timedelta(days=1)  # until a day: up to its end
                fields[key] = when.timestamp()
        else:
            fields[key] = value
    return ParsedQuery(RunFilter(text=" ".join(words) or None, **fields), problems)


def merge(filters: RunFilter, *, route: str | None = None, status: str | None = None) -> RunFilter:
    """The filter bar's selects on top of the typed filters (a select set to "any" is None and changes nothing)."""
    from dataclasses import replace

    return replace(filters, route=route or filters.route, status=status or filters.status)


# -- pages of rows -----------------------------------------------------------------------------------------------
class RunPages:
    """Rows of one listing (one query), fetched and kept a page at a time."""

    def __init__(self, page_size: int = 100, max_pages: int = 12) -> None:
        self.page_size = page_size
        self.max_pages = max_pages
        self.total = 0
        self.generation = 0  # bumped by `reset`: a page fetched for an older query is dropped
        self._pages: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()

    def reset(self, total: int, first: list[dict[str, Any]] | None = None) -> None:
        self.generation += 1
        self.total = total
        self._pages.clear()
        if first is not None:
            self._pages[0] = first

    def page_of(self, index: int) -> int:
        return index // self.page_size

    @property
    def last_page(self) -> int:
        return max(0, (self.total - 1) // self.page_size)

    def has(self, page: int) -> bool:
        return page in self._pages

    def row(self, index: int) -> dict[str, Any] | None:
        rows = self._pages.get(index // self.page_size)
        if rows is None:
            return None
        at = index % self.page_size
        return rows[at] if at < len(rows) else None

    def held(self) -> int:
        return sum(len(rows) for rows in self._pages.values())

    def request(self, page: int) -> dict[str, Any]:
        """Keyword arguments for `list_runs` that fetch `page`: by key from a neighbour whenever possible."""
        size = self.page_size
        if page == 0:
            return {"limit": size}
        above = self._pages.get(page - 1)
        if above:
            return {"limit": size, "before": above[-1]["cursor"]}
        below = self._pages.get(page + 1)
        if below:
            return {"limit": size, "after": below[0]["cursor"]}
        if page == self.last_page:
            return {"limit": self.total - page * size, "from_end": True}
        return {"limit": size, "offset": page * size}

    def put(self, page: int, rows: list[dict[str, Any]], near: int) -> None:
        """Keep `page`; drop the pages farthest from page `near` (the cursor's) beyond `max_pages`."""
        self._pages[page] = rows
        while len(self._pages) > self.max_pages:
            far = max(self._pages, key=lambda p: abs(p - near))
            del self._pages[far]


# -- a recorded run as the waterfall's view model ----------------------------------------------------------------
class RecordedEvent:
    """A stored hop or decision row standing in for the event the hop detail screen shows (`to_dict`)."""

    def __init__(self, kind: str, row: dict[str, Any]) -> None:
        self.kind = kind
        self.row = row

    def to_dict(self) -> dict[str, Any]:
        return {"type": f"recorded {self.kind}", **{k: v for k, v in self.row.items() if v is not None}}


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _rel(ts: Any, t0: float) -> float | None:
    return None if ts is None else max(0.0, float(ts) - t0)


def recorded_state(detail: Any) -> RunState:
    """The run as saved (its hops and decisions) as a finished RunState on its own time axis."""
    run = detail.run
    t0 = float(run.get("started_ts") or 0.0)
    state = RunState(str(run.get("route") or ""), str(run.get("prompt") or ""), clock=lambda: t0)
    state.run_id = str(run["id"])
    items: list[tuple[float, int, str, dict[str, Any]]] = []
    for n, hop in enumerate(detail.hops):
        items.append((float(hop.get("started_ts") or t0), n, "hop", hop))
    for n, d in enumerate(detail.decisions):
        items.append((float(d.get("ts") or t0), len(detail.hops) + n, "decision", d))
    items.sort(key=lambda item: (item[0], item[1]))
    ended = float(run.get("ended_ts") or 0.0) or t0 + float(run.get("latency_ms") or 0) / 1000
    for _, n, kind, row in items:
        if kind == "hop":
            _add_hop(state, row, t0)
        else:
            key = f"decision-{n}"
            label = str(row.get("action") or "") + (f" → {row['target']}" if row.get("target") else "")
            at = _rel(row.get("ts"), t0)
            state.rows[key] = HopRow(
                key=key,
                kind="decision",
                label=label,
                detail=str(row.get("reason") or ""),
                parent=row.get("hop_id") if row.get("hop_id") in state.rows else None,
                t_start=at,
                t_end=at,
                status=str(row.get("action") or ""),
                events=[RecordedEvent("decision", row)],
            )
    state.ended_at = max(ended - t0, max((r.t_end or 0.0 for r in state.rows.values()), default=0.0))
    return state


def _add_hop(state: RunState, hop: dict[str, Any], t0: float) -> None:
    kind = str(hop.get("kind") or "attempt")
    name = hop.get("name") or hop.get("model") or "?"
    role = hop.get("role")
    if kind == "attempt":
        label = f"  {name}" + (f" ({role})" if role in ("classifier", "judge") else "")
    else:
        label = str(hop.get("name") or kind)
    index = hop.get("target_index")
    sources = (hop.get("usage_input_source"), hop.get("usage_output_source"))
    state.rows[str(hop["hop_id"])] = HopRow(
        key=str(hop["hop_id"]),
        kind=kind,
        label=label,
        attempt=(int(index) + 1) if index is not None else (hop.get("attempt") or None),
        status=str(hop.get("status") or ""),
        latency_ms=hop.get("latency_ms"),
        ttft_ms=hop.get("ttft_ms"),
        input_tokens=None if kind == "step" else hop.get("input_tokens"),
        output_tokens=None if kind == "step" else hop.get("output_tokens"),
        cost_usd=None if kind == "step" else _dec(hop.get("cost_exact")),
        estimated="estimated" in sources,
        detail=str(hop.get("error") or hop.get("reason") or ""),
        parent=hop.get("parent_id"),
        model=hop.get("model"),
        t_start=_rel(hop.get("started_ts"), t0),
        t_first=_rel(hop.get("first_token_ts"), t0),
        t_end=_rel(hop.get("ended_ts"), t0),
        events=[RecordedEvent("hop", {k: v for k, v in hop.items() if k != "output"})],
    )


def recorded_totals(run: dict[str, Any]) -> dict[str, Any]:
    """The recorded run's totals in the shape of `RunState.totals()`."""
    return {
        "latency_ms": run.get("latency_ms"),
        "ttft_ms": run.get("ttft_ms"),
        "input_tokens": run.get("input_tokens") or 0,
        "output_tokens": run.get("output_tokens") or 0,
        "cost": _dec(run.get("cost_exact")) or Decimal(0),
        "estimated": bool(run.get("estimated")),
        "status": str(run.get("status") or ""),
    }


# -- re-run deltas -----------------------------------------------------------------------------------------------
def _pct(old: float, new: float) -> str:
    return "" if not old else f", {(new - old) / old * 100:+.0f}%"


def deltas(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, "recorded → now (change)") for latency, TTFT, tokens, cost and status."""
    out: list[tuple[str, str]] = []
    for key, name in (("latency_ms", "latency"), ("ttft_ms", "ttft")):
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            out.append((name, f"{'–' if a is None else f'{a:,.0f}'} → {'–' if b is None else f'{b:,.0f}'} ms"))
        else:
            out.append((name, f"{a:,.0f} → {b:,.0f} ms ({b - a:+,.0f}{_pct(a, b)})"))
    ta = int(old.get("input_tokens") or 0) + int(old.get("output_tokens") or 0)
    tb = int(new.get("input_tokens") or 0) + int(new.get("output_tokens") or 0)
    out.append(("tokens", f"{ta:,} → {tb:,} ({tb - ta:+,})"))
    ca, cb = Decimal(str(old.get("cost") or 0)), Decimal(str(new.get("cost") or 0))
    sign = "+" if cb >= ca else "-"
    out.append(("cost", f"${usd(ca)} → ${usd(cb)} ({sign}${usd(abs(cb - ca))}{_pct(float(ca), float(cb))})"))
    sa, sb = str(old.get("status") or ""), str(new.get("status") or "")
    out.append(("status", f"{sa} → {sb}" if sa != sb else f"{sa} (same)"))
    return out
