"""Sending saved runs as traces: `workbench sessions export --format otlp --endpoint URL`."""

from __future__ import annotations

from typing import Any

from workbench.errors import WorkbenchError


def export_store(store: Any, url: str, *, session: str | None = None, exporter: Any = None) -> int:
    """Send every saved run (of `session`, if given) to the OTLP/HTTP endpoint; returns how many runs."""
    from workbench.otel.spans import OtlpExporter
    from workbench.profiles.load import loads_profile

    out = OtlpExporter(url, exporter=exporter)
    profiles: dict[str, Any] = {}
    sql = "SELECT id, profile_hash FROM runs" + (" WHERE session = ?" if session else "") + " ORDER BY started_ts"
    rows = store.conn.execute(sql, (session,) if session else ()).fetchall()
    for run_id, sha in rows:
        if sha and sha not in profiles:
            text = store.conn.execute("SELECT text FROM profiles WHERE sha256 = ?", (sha,)).fetchone()
            try:
                profiles[sha] = loads_profile(text[0]).profile if text else None
            except WorkbenchError:
                profiles[sha] = None  # an old profile that no longer validates: provider aliases are used as names
        detail = store.get_run(run_id)
        out.export_rows(detail.run, detail.hops, detail.decisions, profiles.get(sha))
    out.close()
    return len(rows)
