"""Sending saved runs as traces: `workbench sessions export --format otlp --endpoint URL`.

The OpenTelemetry SDK exports in the background and only logs a failure, so a collector answering 500 or 429,
refusing the connection or never answering looked like success ("sent 5 runs"). Here the exporter is watched:
what the collector took is counted by run, the first failed batch stops the rest at once (a hung collector
costs one timeout, not one per batch), and `export_store` raises `TraceExportError` (exit 1) saying how many runs got
through and why the others did not. An endpoint that is not an http(s) URL is refused before anything is sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

# Imported only where spans are exported (`--otlp`, `sessions export --otlp`), which load the SDK anyway.
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from workbench.errors import WorkbenchError

#: seconds one batch may take (the SDK's retries of 429/5xx included) before the export gives up
DEFAULT_TIMEOUT_S = 10.0


class TraceExportError(WorkbenchError):
    """The collector did not take the runs (an HTTP error, refused, no answer in time)."""

    exit_code = 1
    title = "trace export failed"


def check_endpoint(url: str, option: str = "--endpoint") -> str:
    """`url` if it is an http(s) URL with a host (and a valid port); else a WorkbenchError (exit 2) naming it."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when it is not a number in 0..65535
    except ValueError as exc:
        raise WorkbenchError(f"{option} {url!r} is not a URL ({exc})", hint="e.g. http://127.0.0.1:4318") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WorkbenchError(
            f"{option} {url!r} is not an http(s) URL with a host",
            hint="OTLP/HTTP endpoints look like http://127.0.0.1:4318 (or the full .../v1/traces URL)",
        )
    del port
    return url


_OTLP_LOGGER = "opentelemetry.exporter.otlp"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reasons: list[str] = []
        self.gave_up = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.reasons.append(_reason(record))
        except Exception:  # noqa: BLE001 - a logging handler must not raise; a record that cannot be read says nothing useful
            self.gave_up = True


def _reason(record: logging.LogRecord) -> str:
    """What went wrong, in words, from one of the OTLP exporter's log records (their arguments, not their text:
    a status code, a reason phrase or the exception)."""
    args = record.args if isinstance(record.args, tuple) else ()
    if str(record.msg).startswith("Failed to export %s batch code") and len(args) == 3:
        _, status, why = args
        if isinstance(status, int):
            return f"it answered HTTP {status}" + (f" ({why})" if isinstance(why, str) and why else "")
        return _described(why)
    if str(record.msg).startswith("Transient error %s") and args:
        return _described(args[0])
    raise ValueError(record.msg)  # the closing "gave up" message, or one this does not know


def _described(what: object) -> str:
    import http

    if isinstance(what, str):
        for status in http.HTTPStatus:
            if status.phrase == what:
                return f"it answered HTTP {status.value} ({what})"
        return what
    text = str(what)
    if "Connection refused" in text:
        return "the connection was refused"
    if "timed out" in text.lower() or "Timeout" in type(what).__name__:
        return "it did not answer in time"
    if "Name or service not known" in text or "NameResolution" in text or "getaddrinfo" in text:
        return "its host name does not resolve"
    return f"{type(what).__name__}: {' '.join(text.split())[:200]}"


_log_lock = threading.Lock()


@contextmanager
def _otlp_log() -> Iterator[_Collect]:
    """The OTLP exporter's warnings and errors while exporting, read for why (instead of printed)."""
    handler = _Collect()
    logger = logging.getLogger(_OTLP_LOGGER)
    with _log_lock:
        propagate = logger.propagate
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield handler
    finally:
        with _log_lock:
            logger.removeHandler(handler)
            logger.propagate = propagate


class WatchedExporter(SpanExporter):
    """A SpanExporter that delegates to `inner`, counts the runs (root spans) the collector took, and after the
    first failure refuses every later batch at once."""

    def __init__(self, inner: SpanExporter, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.inner = inner
        self.timeout = timeout
        self.sent_runs = 0
        self.lost_runs = 0
        self.failure: str | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        roots = sum(1 for span in spans if span.parent is None)
        if self.failure is not None:
            self.lost_runs += roots
            return SpanExportResult.FAILURE
        with _otlp_log() as log:
            try:
                result = self.inner.export(spans)
            except Exception as exc:  # noqa: BLE001 - an exporter that raises (any way): a failure like any other
                log.reasons.append(_described(exc))
                result = SpanExportResult.FAILURE
        if result == SpanExportResult.SUCCESS:
            self.sent_runs += roots
        else:
            self.lost_runs += roots
            if log.reasons:
                self.failure = log.reasons[-1] + (" (retried until the timeout)" if log.gave_up else "")
            elif log.gave_up:  # the SDK says only that it gave up: the request ran out of time, or a wait did
                self.failure = (
                    f"no answer within the {self.timeout:g} s timeout (or only answers to retry later than that)"
                )
            else:
                self.failure = "it did not accept them"
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


def watched_otlp_exporter(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> WatchedExporter:
    """An OTLP/HTTP span exporter for `url` (checked first: WorkbenchError, exit 2, when it is not a URL), watched:
    after the spans are flushed, `failure` says why the collector did not take them (None when it did)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from workbench.otel.spans import traces_url

    check_endpoint(url, "--otlp")
    return WatchedExporter(OTLPSpanExporter(endpoint=traces_url(url), timeout=timeout), timeout)


def export_store(
    store: Any,
    url: str,
    *,
    session: str | None = None,
    exporter: SpanExporter | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> int:
    """Send every saved run (of `session`, if given) to the OTLP/HTTP endpoint; returns how many runs. Raises
    TraceExportError when the collector did not take them all (saying how many it did), WorkbenchError (exit 2)
    for an endpoint that is not a URL."""
    from workbench.otel.spans import OtlpExporter, traces_url
    from workbench.profiles.load import loads_profile

    check_endpoint(url)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=traces_url(url), timeout=timeout)
    watched = WatchedExporter(exporter, timeout)
    out = OtlpExporter(url, exporter=watched)
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
    if watched.failure is not None or watched.sent_runs < len(rows):
        raise TraceExportError(
            f"sent {watched.sent_runs} of {len(rows)} runs as traces to {url}; the collector did not take the"
            f" others: {watched.failure or 'they were not exported in time'}",
            hint="check that the collector is up and accepts OTLP/HTTP (protobuf) at that URL; nothing was changed"
            " in the session database",
        )
    return len(rows)
