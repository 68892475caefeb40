"""Turning a run into spans: run -> step -> attempt / gate / retrieve (any hop under its parent hop).

Model-call attempts are `CLIENT` spans named `chat {model}`; the run, its steps and every other hop are `INTERNAL`.
Spans are built from a run's rows (the store's `runs`/`hops`/`decisions` shape), so a live run (assembled from
its events by the store's own `assemble`) and a saved one give the same trace. Attributes follow the OpenTelemetry
GenAI semantic conventions on model calls (`gen_ai.operation.name` = chat, `gen_ai.provider.name`,
`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens` / `output_tokens`,
`gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens`,
`gen_ai.usage.reasoning.output_tokens`, `gen_ai.response.finish_reasons`), plus `workbench.*` attributes: route,
step, status, cost (exact text and float), attempt number, error class and reasons. Each engine decision (route
chosen, fallback, retry...) is a span event `workbench.decision` with its action, target and reason on the hop it
concerns (or the run). Prompts, outputs and headers are never attributes: no text, no key leaves this way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from workbench.engine.events import Event, RunFinished, RunStarted

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from workbench.profiles.models import Profile

_NS = 1_000_000_000
#: runs begun and not finished whose events the live exporter holds; past this many, the one silent longest is
#: dropped (a run whose consumer walked away never sends `run_finished`; a long eval must not keep them all)
MAX_PENDING_RUNS = 4096


def traces_url(url: str) -> str:
    """An OTLP/HTTP base URL (`http://host:4318`) or the full traces URL; returns the traces URL."""
    url = url.rstrip("/")
    return url if url.endswith("/v1/traces") else url + "/v1/traces"


def _ns(ts: float | None, default: float) -> int:
    return int((ts if ts is not None else default) * _NS)


def _finish(status: str | None) -> list[str]:
    return {"ok": ["stop"], "error": ["error"], "cancelled": ["cancelled"]}.get(status or "", [status or "unknown"])


class OtlpExporter:
    def __init__(
        self,
        url: str,
        *,
        profile: Profile | None = None,
        service: str = "workbench",
        exporter: SpanExporter | None = None,
    ) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=traces_url(url), timeout=10)
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("workbench")
        self.profile = profile
        self._pending: dict[str, list[Event]] = {}
        self.exported = 0

    # -- live ------------------------------------------------------------------------------------------------
    def submit(self, event: Event) -> None:
        if event.type == "token":
            return
        if isinstance(event, RunStarted):
            self._pending[event.run_id] = []
            while len(self._pending) > MAX_PENDING_RUNS:
                del self._pending[next(iter(self._pending))]
        buf = self._pending.pop(event.run_id, None)
        if buf is None:
            return
        self._pending[event.run_id] = buf  # to the end: the most recently active
        buf.append(event)
        if isinstance(event, RunFinished):
            from workbench.store.writer import assemble

            records, _ = assemble(self._pending.pop(event.run_id), "live")
            for rec in records:
                self.export_rows(rec.run, rec.hops, rec.decisions)

    # -- from rows -------------------------------------------------------------------------------------------
    def _provider_name(self, alias: str | None, profile: Profile | None) -> str | None:
        prof = profile or self.profile
        if alias and prof is not None and alias in prof.providers:
            p = prof.providers[alias]
            return p.wire_format if p.kind == "sim" else p.kind
        return alias

    def export_rows(
        self,
        run: dict[str, Any],
        hops: list[dict[str, Any]],
        decisions: list[dict[str, Any]],
        profile: Profile | None = None,
    ) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start = run.get("started_ts") or 0.0
        end = run.get("ended_ts") or start
        cost = Decimal(run.get("cost_exact") or "0")
        root = self.tracer.start_span(
            f"workbench.run {run.get('route')}",
            start_time=_ns(start, start),
            attributes={
                "workbench.run.id": run["id"],
                "workbench.route": run.get("route") or "",
                "workbench.profile": run.get("profile") or "",
                "workbench.status": run.get("status") or "",
                "workbench.cost_usd": float(cost),
                "workbench.cost_exact": str(cost),
                "gen_ai.usage.input_tokens": int(run.get("input_tokens") or 0),
                "gen_ai.usage.output_tokens": int(run.get("output_tokens") or 0),
            },
        )
        if run.get("status") == "error":
            root.set_status(Status(StatusCode.ERROR, run.get("error") or "error"))
        spans: dict[str, Any] = {}
        for hop in sorted(hops, key=lambda h: (h.get("started_ts") or start, h.get("seq") or 0)):
            pid = hop.get("parent_id") or ""
            parent = spans[pid][0] if pid in spans else root
            ctx = trace.set_span_in_context(parent)
            kind = hop.get("kind") or "hop"
            attrs: dict[str, Any] = {
                "workbench.hop.id": hop["hop_id"],
                "workbench.hop.kind": kind,
                "workbench.status": hop.get("status") or "",
                "workbench.cost_usd": float(Decimal(hop.get("cost_exact") or "0")),
                "workbench.cost_exact": str(hop.get("cost_exact") or "0"),
            }
            if hop.get("reason"):
                attrs["workbench.reason"] = hop["reason"]
            if hop.get("error_class"):
                attrs["error.type"] = hop["error_class"]
            if kind == "attempt":
                name = f"chat {hop.get('model_id') or hop.get('model')}"
                attrs.update(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": self._provider_name(hop.get("provider"), profile) or "",
                        "gen_ai.request.model": hop.get("model_id") or "",
                        "gen_ai.response.model": hop.get("model_id") or "",
                        "gen_ai.usage.input_tokens": int(hop.get("input_tokens") or 0),
                        "gen_ai.usage.output_tokens": int(hop.get("output_tokens") or 0),
                        "gen_ai.usage.cache_read.input_tokens": int(hop.get("usage_cache_read") or 0),
                        "gen_ai.usage.cache_creation.input_tokens": int(hop.get("usage_cache_write_5m") or 0)
                        + int(hop.get("usage_cache_write_1h") or 0),
                        "gen_ai.usage.reasoning.output_tokens": int(hop.get("usage_reasoning") or 0),
                        "gen_ai.response.finish_reasons": _finish(hop.get("status")),
                        "workbench.model": hop.get("model") or "",
                        "workbench.attempt": int(hop.get("attempt") or 0),
                    }
                )
                if hop.get("engine_ms") is not None:  # the orchestration overhead, apart from the provider's time
                    attrs["workbench.engine.duration_ms"] = float(hop["engine_ms"])
            else:
                name = f"workbench.{kind} {hop.get('name') or ''}".strip()
                attrs["workbench.step"] = hop.get("name") or ""
            # A model call is a CLIENT span (GenAI conventions: the call leaves the process); a target passed over
            # without a call (skipped) and every other hop is work inside the engine.
            called = kind == "attempt" and hop.get("status") != "skipped"
            span = self.tracer.start_span(
                name,
                context=ctx,
                kind=SpanKind.CLIENT if called else SpanKind.INTERNAL,
                start_time=_ns(hop.get("started_ts"), start),
                attributes=attrs,
            )
            if hop.get("status") == "error":
                span.set_status(Status(StatusCode.ERROR, hop.get("error") or "error"))
            spans[hop["hop_id"]] = (span, hop)
        for d in decisions:
            target = spans.get(d.get("hop_id") or "", (root, None))[0]
            target.add_event(
                "workbench.decision",
                attributes={
                    "workbench.decision.action": d.get("action") or "",
                    "workbench.decision.target": d.get("target") or "",
                    "workbench.decision.reason": d.get("reason") or "",
                },
                timestamp=_ns(d.get("ts"), start),
            )
        for span, hop in reversed(list(spans.values())):
            span.end(end_time=_ns(hop.get("ended_ts"), end))
        root.end(end_time=_ns(end, end))
        self.exported += 1

    def close(self) -> None:
        self.provider.force_flush()
        self.provider.shutdown()


class Tee:
    """Hands each event to the session writer (if any) and to the OTLP exporter: `workbench run --otlp URL`."""

    def __init__(self, *sinks: Any) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def submit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.submit(event)
