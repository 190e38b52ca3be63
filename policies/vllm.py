"""`vllm`: generation through vLLM, for GPU machines where vLLM is installed.

Used for rollouts and evaluation (`llmgym bench`, held-out eval); training with vLLM generation goes
through TRL's own `use_vllm` option (see docs/training.md), which this policy does not replace.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from llmgym.errors import LLMGymError
from llmgym.types import Completion, SamplingParams


class VLLMPolicy:
    """A model served in-process by `vllm.LLM`. `path` is a local folder, run directory or hub id."""

    def __init__(self, path: str, *, name: str = "vllm", gpu_memory_utilization: float = 0.5,
                 max_model_len: int = 4096, dtype: str = "auto", **llm_kwargs: Any):
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise LLMGymError("policy vllm needs the vllm package on a GPU machine (`pip install vllm`); "
                              "elsewhere use --policy hf:path=...") from None
        import torch

        if not torch.cuda.is_available():
            raise LLMGymError("policy vllm needs a CUDA GPU; on this machine use --policy hf:path=...")
        from pathlib import Path

        from .hf import resolve_checkpoint

        self.name = name
        self.path = str(resolve_checkpoint(path)) if Path(path).exists() else path
        self._llm = vllm.LLM(model=self.path, gpu_memory_utilization=gpu_memory_utilization,
                             max_model_len=max_model_len, dtype=dtype, **llm_kwargs)
        self.tokenizer = self._llm.get_tokenizer()

    def generate(self, prompts: Sequence[Sequence[Mapping[str, str]]], n: int = 1,
                 params: SamplingParams | None = None) -> list[list[Completion]]:
        """`n` completions per chat prompt in one vLLM batch."""
        import vllm

        params = params or SamplingParams()
        sp = vllm.SamplingParams(n=n, temperature=params.temperature, top_p=params.top_p,
                                 max_tokens=params.max_tokens, stop=list(params.stop) or None, seed=params.seed)
        texts = [self.tokenizer.apply_chat_template([dict(m) for m in p], tokenize=False,
                                                    add_generation_prompt=True) for p in prompts]
        t0 = time.perf_counter()
        outs = self._llm.generate(texts, sp, use_tqdm=False)
        per_seq = (time.perf_counter() - t0) / max(1, len(texts) * n)
        return [[Completion(text=c.text, prompt_tokens=len(o.prompt_token_ids), completion_tokens=len(c.token_ids),
                            seconds=per_seq, finish_reason=c.finish_reason) for c in o.outputs] for o in outs]


def vllm_policy(path: str | None = None, **kwargs: Any) -> VLLMPolicy:
    """The `vllm` policy factory: `--policy vllm:path=DIR_OR_HUB_ID`."""
    if not path:
        raise LLMGymError("policy vllm needs a model: --policy vllm:path=DIR_OR_HUB_ID")
    return VLLMPolicy(path, **kwargs)
