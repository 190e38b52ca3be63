"""The guard's probe: what `make_guard` measures of the policy at every probe (proxy and gold scores
of a few sampled completions, their degeneracy, and the KL to the starting policy)."""

from __future__ import annotations

from typing import Any, Callable


def make_probe(tasks: list, system_prompt: str | None, proxy: Any, gold: Any = None, *, policy: Any,
               ref_model: Any = None, n: int = 2, max_tokens: int = 48, temperature: float = 0.7,
               seed: int = 0) -> Callable[[Any], dict[str, Any]]:
    """A probe for `make_guard`: sample `n` completions per held-out task, score proxy and gold,
    measure degeneracy, and estimate KL to `ref_model` (a frozen copy of the starting policy).
    `policy` is the `llmgym.types.TrainablePolicy` being trained: the probe samples through
    `policy.with_model(model)`, whatever kind of policy it is."""
    from llmgym.types import SamplingParams

    from .degeneracy import batch_stats

    tokenizer = policy.tokenizer

    def probe(model: Any) -> dict[str, Any]:
        prompts = [t.messages(system_prompt) for t in tasks]
        params = SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
        rows = policy.with_model(model).generate(prompts, n=n, params=params)
        texts = [c.text for row in rows for c in row]
        flat = [t for t in tasks for _ in range(n)]
        out: dict[str, Any] = {"proxy": _mean_or_zero(s.value for s in proxy.score_batch(texts, flat)),
                               "gold": _mean_or_zero(s.value for s in gold.score_batch(texts, flat)) if gold else None,
                               "degeneracy": batch_stats(texts)}
        if ref_model is not None:
            out["kl"] = sequence_kl(model, ref_model, tokenizer, [p for p in prompts for _ in range(n)], texts)
        return out

    return probe


def _mean_or_zero(values: Any) -> float:
    # An empty probe (an env without eval tasks) scores 0 so that the guard's rules still compare
    # numbers; a report's mean of nothing is None instead (`llmgym.report.metrics`).
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


def sequence_kl(model: Any, ref_model: Any, tokenizer: Any, prompts: list, texts: list[str]) -> float:
    """Mean over samples of sum_t [log p(y_t) - log p_ref(y_t)]: the k1 estimate of KL(policy || ref)."""
    import torch

    total = 0.0
    dev = next(model.parameters()).device
    for prompt, text in zip(prompts, texts):
        head = tokenizer.apply_chat_template([dict(m) for m in prompt], tokenize=False, add_generation_prompt=True)
        p_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not c_ids:
            continue
        ids = torch.tensor([p_ids + c_ids], device=dev)
        with torch.no_grad():
            lp = torch.log_softmax(model(ids).logits[0, len(p_ids) - 1:-1].float(), -1)
            lq = torch.log_softmax(ref_model(ids).logits[0, len(p_ids) - 1:-1].float(), -1)
        tgt = ids[0, len(p_ids):].unsqueeze(-1)
        total += float((lp.gather(-1, tgt) - lq.gather(-1, tgt)).sum())
    return total / max(1, len(texts))
