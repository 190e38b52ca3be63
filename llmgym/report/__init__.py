"""Benchmarks and reports: `llmgym bench` (envs x policies over the eval split), metrics
(pass@1 with a Wilson interval, unbiased pass@k, maj@k, ...), and renderers (summary.json,
report.md, report.html), plus `llmgym report RUN_DIR` for training runs.

Nothing here imports matplotlib, torch or transformers until a report or a policy needs it.
"""
