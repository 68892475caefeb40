"""A profile for the semantics tests: cheap simulated models, one route per behaviour under test."""

from __future__ import annotations

from workbench.engine import Engine

FAST = "ttft_ms: 0, tokens_per_s: 100000"
PROFILE = f"""
name: semantics-tests
sim: {{seed: 5}}
providers:
  local: {{kind: sim, wire: openai, tags: [eu]}}
  outside: {{kind: sim, wire: anthropic, tags: [external]}}
models:
  cheap:
    provider: local
    model: sim-cheap
    prices: [{{input: 0.1, output: 0.4}}]
    sim: {{{FAST}, answer_tokens: 30}}
  small:
    provider: local
    model: sim-small
    prices: [{{input: 0.2, output: 0.8}}]
    sim: {{{FAST}, answer_tokens: 30}}
  big:
    provider: local
    model: sim-big
    prices: [{{input: 3, output: 15}}]
    sim: {{{FAST}, answer_tokens: 40}}
  confused:  # answers every prompt in prose: a classifier that returns garbage
    provider: local
    model: sim-confused
    prices: [{{input: 0.1, output: 0.4}}]
    sim: {{{FAST}, answer_tokens: 20, plays_roles: false}}
  abroad:
    provider: outside
    model: sim-abroad
    prices: [{{input: 1, output: 2}}]
    sim: {{{FAST}, answer_tokens: 20}}
  tiny_window:
    provider: local
    model: sim-tiny-window
    context_window: 140  # 120 for the prompt, 20 kept for the answer
    max_output_tokens: 20
    prices: [{{input: 0.1, output: 0.4}}]
    sim: {{{FAST}, answer_tokens: 10}}
routes:
  classify:
    steps:
      - kind: route
        name: triage
        classifier: {{model: cheap, min_confidence: 0.5}}
        categories:
          billing: {{description: invoices charges refunds payment card billing money}}
          technical: {{description: errors crashes bugs install login password technical}}
        default: general
        branches:
          billing: [{{name: billing_answer, targets: [small]}}]
          technical: [{{name: tech_answer, targets: [big]}}]
          general: [{{name: general_answer, targets: [cheap]}}]
  garbage:
    steps:
      - kind: route
        name: triage
        classifier: {{model: confused}}
        categories:
          billing: {{description: invoices refunds}}
        default: general
        branches:
          billing: [{{name: billing_answer, targets: [small]}}]
          general: [{{name: general_answer, targets: [cheap]}}]
  rules:
    steps:
      - kind: route
        name: pick
        rules:
          - {{when: {{metadata: {{risk: [high, critical]}}}}, branch: careful, reason: high risk}}
          - {{when: {{keywords: [refund]}}, branch: careful}}
          - {{when: {{min_tokens: 30}}, branch: careful}}
        default: quick
        branches:
          careful: [{{name: careful_answer, targets: [big]}}]
          quick: [{{name: quick_answer, targets: [cheap]}}]
  strong_weak:
    steps:
      - kind: route
        name: difficulty
        strong_weak: {{threshold: 0.4, strong: strong, weak: weak}}
        default: weak
        branches:
          strong: [{{name: strong_answer, targets: [big]}}]
          weak: [{{name: weak_answer, targets: [cheap]}}]
  residency:
    steps: [{{name: answer, targets: [abroad, small], allow: {{deny_tags: [external]}}}}]
  only_cheap:
    steps: [{{name: answer, targets: [big, cheap], allow: {{models: [cheap]}}}}]
  nothing_allowed:
    steps: [{{name: answer, targets: [abroad], allow: {{tags: [eu]}}}}]
  redacted:
    steps: [{{name: answer, targets: [small], redact: [email, card, phone]}}]
  capped:
    steps: [{{name: answer, targets: [cheap], max_tokens: 20, history: false}}]
  sw_classifier:
    steps:
      - kind: route
        name: difficulty
        strong_weak: {{threshold: 0.6, scorer: classifier, model: cheap, strong: strong, weak: weak}}
        default: weak
        branches:
          strong: [{{name: strong_answer, targets: [big]}}]
          weak: [{{name: weak_answer, targets: [cheap]}}]
  window:
    steps: [{{name: answer, targets: [tiny_window], system: Be brief and kind.}}]
"""


async def collect(engine: Engine, prompt: str, **kw):  # type: ignore[no-untyped-def]
    return [event async for event in engine.run(prompt, **kw)]


def of(events, type_: str, **match):  # type: ignore[no-untyped-def]
    return [e for e in events if e.type == type_ and all(getattr(e, k) == v for k, v in match.items())]
