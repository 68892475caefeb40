"""Route overhead: the engine's own time for a routing step (rules, classifier), a gate and a retrieval over a
1,000-document corpus, against the latency of the model call they precede.

Everything runs against the embedded simulator. The steps' models answer instantly (ttft 0, unbounded tokens/s),
so a step hop's latency is the engine's work plus loopback HTTP; for the classifier the attempt's own latency is
reported too, and the engine's share is the route hop minus the attempt. The reference model call is dialled like
the demo's `steady` (300 ms to first token, 80 tokens/s, 90 tokens). The corpus is generated (seeded) in a temp
folder; the first retrieval builds the FTS5 index (reported apart), later ones only check mtimes and query.

Usage: python benchmarks/route_overhead.py [--n 30] [--docs 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.engine import Engine  # noqa: E402
from workbench.profiles.load import loads_profile  # noqa: E402

FAST = "ttft_ms: 0, tokens_per_s: 1000000"
VOCAB = (
    "refund shipping password invoice account plan price delivery order tracking return damaged card login reset"
    " security team project billing address warehouse express standard business days claim photo replacement"
    " support chat urgent manager export privacy download profile email name settings receipt tax company"
).split()


def make_corpus(folder: Path, n: int) -> None:
    rng = random.Random(13)
    for i in range(n):
        words = [rng.choice(VOCAB) for _ in range(rng.randint(60, 160))]
        body = " ".join(words)
        (folder / f"doc{i:04d}.md").write_text(f"# Note {i} about {words[0]}\n\n{body}\n\n## More\n\n{body[::-1]}\n")


def profile(corpus: Path) -> str:
    return f"""
name: overhead
sim: {{seed: 1}}
providers: {{local: {{kind: sim, wire: openai}}}}
models:
  instant: {{provider: local, model: sim-instant, prices: [{{input: 0.1, output: 0.4}}], sim: {{{FAST}, answer_tokens: 20}}}}
  steady: {{provider: local, model: sim-steady, prices: [{{input: 0.4, output: 1.6}}], sim: {{ttft_ms: 300, tokens_per_s: 80, answer_tokens: 90}}}}
routes:
  rules:
    steps:
      - kind: route
        name: pick
        rules:
          - {{when: {{metadata: {{risk: high}}}}, branch: a}}
          - {{when: {{regex: "\\\\b(refund|return)s?\\\\b"}}, branch: a}}
          - {{when: {{keywords: [password, login]}}, branch: b}}
          - {{when: {{min_tokens: 200}}, branch: a}}
        default: b
        branches: {{a: [{{kind: transform, name: ta, template: a}}], b: [{{kind: transform, name: tb, template: b}}]}}
  classifier:
    steps:
      - kind: route
        name: pick
        classifier: {{model: instant}}
        categories:
          billing: {{description: invoices refunds payment card}}
          technical: {{description: login password error crash}}
        default: billing
        branches: {{billing: [{{kind: transform, name: ta, template: a}}], technical: [{{kind: transform, name: tb, template: b}}]}}
  gate:
    steps:
      - {{kind: transform, name: text, template: "{{{{ input }}}} contact me at nobody@example.com"}}
      - kind: gate
        name: checks
        on_fail: warn
        checks:
          - {{type: contains, text: refund}}
          - {{type: forbids, regex: "\\\\bpassword\\\\b"}}
          - {{type: length, max_tokens: 500}}
          - {{type: pii}}
  retrieve:
    steps: [{{kind: retrieve, name: find, corpus: "{corpus}", top_k: 4}}]
  call:
    steps: [{{name: answer, targets: [steady]}}]
"""


async def hop_ms(engine: Engine, route: str, kind: str, prompt: str) -> tuple[float, float]:
    """(latency of the first hop of `kind`, total latency of its attempts) for one run."""
    hop = attempts = 0.0
    async for e in engine.run(prompt, route=route, metadata={"risk": "low"}):
        if e.type == "hop_finished":
            if e.kind == kind and not hop and getattr(e, "check", None) is None:  # type: ignore[attr-defined]
                hop = e.latency_ms  # type: ignore[attr-defined]
            elif e.kind == "attempt":  # type: ignore[attr-defined]
                attempts += e.latency_ms  # type: ignore[attr-defined]
    return hop, attempts


async def main(n: int, docs: int) -> None:
    prompt = "I want a refund for the damaged order, the tracking says delivered"
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        make_corpus(corpus, docs)
        os.environ["WORKBENCH_DB"] = str(Path(tmp) / "wb.db")  # the index goes beside this store
        loaded = loads_profile(profile(corpus))
        async with Engine(loaded) as engine:
            build, _ = await hop_ms(engine, "retrieve", "retrieve", prompt)
            for route in ("rules", "classifier", "gate"):  # warm caches (regex, templates, connections)
                await hop_ms(engine, route, {"rules": "route", "classifier": "route"}.get(route, route), prompt)
            rows: dict[str, list[tuple[float, float]]] = {}
            for label, route, kind in (
                ("rules route step", "rules", "route"),
                ("classifier route step", "classifier", "route"),
                ("gate (4 checks)", "gate", "gate"),
                (f"retrieve over {docs} docs", "retrieve", "retrieve"),
            ):
                rows[label] = [await hop_ms(engine, route, kind, prompt) for _ in range(n)]
            calls = [(await hop_ms(engine, "call", "step", prompt))[1] for _ in range(max(3, n // 10))]
    call_p50 = statistics.median(calls)
    print(f"reference model call (ttft 300 ms, 80 tok/s, 90 tokens): p50 {call_p50:.1f} ms over {len(calls)} calls")
    print(f"retrieval index build for {docs} docs (first query): {build:.1f} ms")
    print(f"{'step':<28}{'hop p50 ms':>12}{'of which model':>16}{'engine p50 ms':>15}{'vs call':>10}")
    for label, samples in rows.items():
        hop = statistics.median(s[0] for s in samples)
        model = statistics.median(s[1] for s in samples)
        own = statistics.median(s[0] - s[1] for s in samples)
        print(f"{label:<28}{hop:>12.2f}{model:>16.2f}{own:>15.2f}{own / call_p50:>9.2%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--docs", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.docs))
