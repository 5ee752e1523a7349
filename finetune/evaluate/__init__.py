"""`docs2qa eval`: a tuned adapter against its base model on held-out questions.

Modules, in the order a run uses them: config (EvalConfig), data (examples and prompt
settings from a dataset version or a gold file), models (adapter folder -> base + PeftModel),
generate (batched greedy transformers), vllm_engine (the GPU path), choice (the
multiple-choice knowledge check, scored by likelihood), metrics, judge, scoring (per-example
metrics, aggregates, baselines), intervals (paired bootstrap intervals and verdicts), report
(self-contained HTML) and run (`evaluate`, which ties them together).
"""
