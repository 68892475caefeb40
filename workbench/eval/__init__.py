"""Evaluation over datasets: load cases (JSONL, CSV, promptfoo YAML), run every case through every route,
score the answers with checks, and report pass rates with intervals, latency, cost and a verdict.

    cases = load_dataset("datasets/support.jsonl")
    result = await run_eval(loaded, cases, ["default", "budget"], repeat=3, concurrency=20)
    summary = summarize(result)

Modules: `dataset` (reading cases), `checks` (scoring one answer), `runner` (running them), `stats` (Wilson
intervals, percentiles, pass^N), `report` (per-route summary, pairwise comparison, verdict, baseline diff),
`store` (the `evals` / `eval_results` tables).
"""
