"""Runs as OpenTelemetry spans: an OTLP/HTTP receiver started here on loopback decodes what `workbench run --otlp`
and `workbench sessions export --format otlp` send, and the span tree carries the GenAI attributes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from workbench.tokens import count_messages

PROMPT_TEXT = "Tell me about the lighthouse keeper"

PROFILE = """\
name: otel
sim: {seed: 4}
providers:
  oai: {kind: sim, wire: openai, api_key_env: OTEL_TEST_KEY}
  ant: {kind: sim, wire: anthropic}
policies:
  retry: {max_attempts: 1}
models:
  down:
    provider: oai
    model: sim-down
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, faults: [{kind: http_503, rate: 1.0}]}
  claude:
    provider: ant
    model: sim-claude
    prices: [{input: 3, output: 15, cached_input: 0.3, cache_write_5m: 3.75}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 25, cached_tokens: 4}
routes:
  main: {steps: [{name: answer, targets: [down, claude]}]}
"""


class _Receiver:
    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = ExportTraceServiceRequest()
                req.ParseFromString(body)
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        outer.spans.extend(ss.spans)
                outer.path = self.path
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(b"")
                outer.got.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.server.shutdown()


def _attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = list(x.string_value for x in v.array_value.values) if kind == "array_value" else getattr(v, kind)
    return out


def _check_tree(spans: list[Any]) -> None:
    by_id = {s.span_id: s for s in spans}
    (root,) = [s for s in spans if not s.parent_span_id]
    assert root.name == "workbench.run main"
    (step,) = [s for s in spans if s.parent_span_id == root.span_id]
    assert step.name == "workbench.step answer"
    attempts = sorted((s for s in spans if s.parent_span_id == step.span_id), key=lambda s: s.start_time_unix_nano)
    assert [a.name for a in attempts] == ["chat sim-down", "chat sim-claude"]
    assert len({s.trace_id for s in spans}) == 1 and all(s.parent_span_id in by_id or s is root for s in spans)
    # model calls are CLIENT spans (GenAI semantic conventions); the run and its step are INTERNAL
    client, internal = Span.SpanKind.SPAN_KIND_CLIENT, Span.SpanKind.SPAN_KIND_INTERNAL
    assert [a.kind for a in attempts] == [client, client] and root.kind == step.kind == internal
    down, claude = (_attrs(a) for a in attempts)
    # usage on the spans: the refused call was not billed (0 tokens); the answered one read the whole prompt as the
    # tokenizer counts it (4 of them from the cache)
    assert down["gen_ai.usage.input_tokens"] == 0 and down["gen_ai.usage.output_tokens"] == 0
    sent = count_messages([{"role": "user", "content": PROMPT_TEXT}], model="sim-claude", encoding="o200k_base")
    assert claude["gen_ai.usage.input_tokens"] == sent
    assert _attrs(root)["gen_ai.usage.input_tokens"] == sent
    assert down["gen_ai.provider.name"] == "openai" and down["error.type"] == "server"
    assert down["gen_ai.response.finish_reasons"] == ["error"]
    assert claude["gen_ai.operation.name"] == "chat" and claude["gen_ai.provider.name"] == "anthropic"
    assert claude["gen_ai.request.model"] == claude["gen_ai.response.model"] == "sim-claude"
    assert claude["gen_ai.usage.output_tokens"] > 0 and claude["gen_ai.usage.cache_read.input_tokens"] == 4
    assert claude["gen_ai.response.finish_reasons"] == ["stop"] and claude["workbench.cost_usd"] > 0
    span_ms = (attempts[1].end_time_unix_nano - attempts[1].start_time_unix_nano) / 1e6
    assert 0 < claude["workbench.engine.duration_ms"] < span_ms  # the engine's own share of the attempt
    decisions = [(e.name, {kv.key: kv.value.string_value for kv in e.attributes}) for s in spans for e in s.events]
    assert any(
        d["workbench.decision.action"] == "fallback" and d["workbench.decision.target"] == "claude"
        for _, d in decisions
    )
    root_a = _attrs(root)
    assert root_a["workbench.cost_exact"] and root_a["workbench.status"] == "ok"
    assert all(a.start_time_unix_nano <= a.end_time_unix_nano for a in spans)
    for s in spans:  # no key, no prompt text
        for value in _attrs(s).values():
            assert "FAKE-OTEL-KEY" not in str(value) and "lighthouse" not in str(value)


def test_run_otlp_live_and_sessions_export_after(tmp_path: Path, receiver: _Receiver) -> None:
    prof = tmp_path / "p.yaml"
    prof.write_text(PROFILE)
    db = tmp_path / "wb.db"
    env = {**os.environ, "OTEL_TEST_KEY": "FAKE-OTEL-KEY-000"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "run",
            "--profile",
            str(prof),
            "--route",
            "main",
            "--db",
            str(db),
            "--otlp",
            receiver.url,
            PROMPT_TEXT,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert receiver.got.wait(10) and receiver.path == "/v1/traces"
    _check_tree(receiver.spans)
    live = {s.name for s in receiver.spans}
    receiver.spans.clear()
    receiver.got.clear()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "sessions",
            "export",
            "--db",
            str(db),
            "--format",
            "otlp",
            "--endpoint",
            receiver.url + "/v1/traces",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sent 1 runs" in proc.stderr and receiver.got.wait(10)
    _check_tree(receiver.spans)
    assert {s.name for s in receiver.spans} == live


def test_eval_otlp_sends_every_run(tmp_path: Path, receiver: _Receiver) -> None:
    prof = tmp_path / "p.yaml"
    prof.write_text(PROFILE)
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "input": "lighthouse one"}\n{"id": "b", "input": "lighthouse two"}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "eval",
            "--profile",
            str(prof),
            "--dataset",
            str(data),
            "--routes",
            "main",
            "--repeat",
            "2",
            "--no-save",
            "--json",
            "--otlp",
            receiver.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert receiver.got.wait(10)
    roots = [s for s in receiver.spans if not s.parent_span_id]
    assert len(roots) == 4 and len({s.trace_id for s in roots}) == 4  # 2 cases × 2 repeats, one trace each
    assert sum(s.name.startswith("chat ") for s in receiver.spans) == 8  # each: the 503 attempt, then the fallback
