"""`hf`: a Hugging Face causal LM (local checkpoint directory, a run directory, or a hub id the user
names) sampled with `generate`. This is also the trainable policy: `model` and `tokenizer` are what
the TRL trainers take.

A run directory (one holding `config.yaml` and `checkpoints/`) resolves to its final model, or else
its latest complete checkpoint, so `--policy runs/sft` continues from an earlier stage.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmgym.errors import LLMGymError
from llmgym.types import Completion, SamplingParams


# The CPU's fast dtype lives in the core (the trainer reads it too); re-exported for this module's users.
from llmgym.cpu_dtype import CPU_DTYPES, choose_cpu_dtype, cpu_bf16_flags, fast_cpu_dtype, measure_dtypes  # noqa: F401
from llmgym.cpu_dtype import cast_copy, contiguous_output_layer  # the one cast copy, also training's (--rollout-dtype)


def resolve_dtype(dtype: str, device: str | None = None) -> str:
    """A concrete torch dtype name for a policy's `dtype` option; `auto` picks by hardware:
    bf16 on a CUDA GPU that supports it, else `fast_cpu_dtype()` on CPU.

    >>> resolve_dtype("float16")
    'float16'
    """
    if dtype != "auto":
        return dtype
    import torch

    on_gpu = (device or "").startswith("cuda") or (device is None and torch.cuda.is_available())
    if on_gpu:
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return fast_cpu_dtype()


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """The model folder inside `path`: itself, a run's `final/`, or its latest complete checkpoint."""
    p = Path(path).expanduser()
    if (p / "config.json").is_file():
        return p
    if (p / "final" / "config.json").is_file():
        return p / "final"
    latest = p / "checkpoints" / "LATEST"
    if latest.is_file():
        ckpt = p / "checkpoints" / latest.read_text().strip()
        if (ckpt / "config.json").is_file():
            return ckpt
    raise LLMGymError(f"{p} holds no model (no config.json, final/ or complete checkpoint)")


DTYPES = ("auto", "float32", "bfloat16", "float16")


class HFPolicy:
    """A transformers causal LM with its tokenizer. Give `path` (loaded lazily) or `model`+`tokenizer`.

    `batch_size` bounds how many sequences one `generate` call holds (prompts x n). `dtype` is the
    dtype the weights are loaded in; `auto` picks the faster of bf16 and fp32 for this machine
    (`resolve_dtype`), for fixed-weight sampling such as `llmgym bench --policy smollm2:dtype=auto`.
    `generation_dtype` (None: the model's own) makes `generate` sample from a copy of the model in
    that dtype, cast at each call, so a model that is being trained in fp32 can be evaluated in bf16
    (`generation_dtype=auto`) without touching its weights. Neither is `auto` by default: a policy's
    numerics never change without being asked.
    """

    def __init__(self, path: str | None = None, *, model: Any = None, tokenizer: Any = None,
                 name: str = "hf", dtype: str = "float32", batch_size: int = 64, device: str | None = None,
                 trust_remote_code: bool = False, generation_dtype: str | None = None):
        if path is None and model is None:
            raise LLMGymError("policy hf needs a path: --policy hf:path=DIR_OR_HUB_ID (or a run directory)")
        for option, value in (("dtype", dtype), ("generation_dtype", generation_dtype)):
            if value not in DTYPES and not (option == "generation_dtype" and value is None):
                raise LLMGymError(f"policy {name}: {option} {value!r} is not one of {', '.join(DTYPES)}")
        self.name = name
        self.path = str(path) if path is not None else None
        self.dtype = dtype
        self.generation_dtype = generation_dtype
        self.batch_size = int(batch_size)
        self.device = device
        self.trust_remote_code = trust_remote_code
        self._model = model
        self._tokenizer = tokenizer

    # -- loading -------------------------------------------------------------------------------
    @property
    def model_path(self) -> str | None:
        """Where the weights live on disk (None for a model built in memory)."""
        if self.path is None:
            return None
        p = Path(self.path).expanduser()
        return str(resolve_checkpoint(p)) if p.exists() else self.path

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        src = self.model_path
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(src, trust_remote_code=self.trust_remote_code)
            self._model = AutoModelForCausalLM.from_pretrained(
                src, dtype=getattr(torch, resolve_dtype(self.dtype, self.device)),
                trust_remote_code=self.trust_remote_code)
        except OSError as exc:
            raise LLMGymError(f"cannot load model {src!r}: {str(exc).splitlines()[0]}") from exc
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        if self.device:
            self._model.to(self.device)
        if self._model.device.type == "cpu" and self._model.dtype == torch.bfloat16:
            contiguous_output_layer(self._model)  # a bf16 model loaded as such samples as a cast copy does

    @property
    def model(self) -> Any:
        if self._model is None:
            self._load()
        return self._model

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._load()
        return self._tokenizer

    def save(self, out: str | os.PathLike) -> None:
        """Model and tokenizer into the folder `out`, whole or not at all (`llmgym.io.save_model_dir`)."""
        from llmgym.io import save_model_dir

        save_model_dir(out, self.model, self.tokenizer)

    def with_model(self, model: Any) -> "HFPolicy":
        """This policy sampling from `model` (with this tokenizer): `llmgym.types.TrainablePolicy`."""
        return HFPolicy(model=model, tokenizer=self.tokenizer, name=self.name, batch_size=self.batch_size,
                        device=self.device, generation_dtype=self.generation_dtype)

    # -- sampling ------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Sequence[Mapping[str, str]]], n: int = 1,
                 params: SamplingParams | None = None) -> list[list[Completion]]:
        """`n` completions for each chat prompt, batched, with token counts and per-batch timing."""
        import torch

        params = params or SamplingParams()
        tok, model = self.tokenizer, self._generation_model()
        texts = [tok.apply_chat_template([dict(m) for m in p], tokenize=False, add_generation_prompt=True)
                 for p in prompts]
        per_call = max(1, self.batch_size // max(1, n))
        out: list[list[Completion]] = []
        was_training = model.training
        model.eval()
        old_side = tok.padding_side
        tok.padding_side = "left"  # decoder-only generation continues from the right edge
        # A seed is this call's: its batches follow one another in one stream, and the caller's random
        # state (a trainer's, evaluating between steps) is restored afterwards, as if nothing had sampled.
        cuda = [model.device] if model.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=cuda, enabled=params.seed is not None):
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                for start in range(0, len(texts), per_call):
                    out.extend(self._generate_batch(model, texts[start:start + per_call], n, params))
        finally:
            tok.padding_side = old_side
            if was_training:
                model.train()
        return out

    def _generation_model(self) -> Any:
        """The model `generate` samples from: the policy's own, or a fresh copy in `generation_dtype`
        (fresh at every call, because the weights may have been trained since the last one)."""
        model = self.model
        if self.generation_dtype is None:
            return model
        import torch

        dtype = getattr(torch, resolve_dtype(self.generation_dtype, str(model.device)))
        return model if model.dtype == dtype else cast_copy(model, dtype)

    def _generate_batch(self, model: Any, texts: list[str], n: int,
                        params: SamplingParams) -> list[list[Completion]]:
        import torch

        tok = self.tokenizer
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        sample = params.temperature > 0
        kwargs: dict[str, Any] = dict(max_new_tokens=params.max_tokens, do_sample=sample,
                                      num_return_sequences=n, pad_token_id=tok.pad_token_id)
        if sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        t0 = time.perf_counter()
        with torch.no_grad():
            seqs = model.generate(**enc, **kwargs)
        seconds = time.perf_counter() - t0
        new = seqs[:, enc["input_ids"].shape[1]:]
        eos = set(_as_list(model.generation_config.eos_token_id)) | {tok.eos_token_id}
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        results: list[list[Completion]] = [[] for _ in texts]
        per_seq = seconds / max(1, len(new))
        for row, ids in enumerate(new.tolist()):
            length, finish = len(ids), "length"
            for i, t in enumerate(ids):
                if t in eos:
                    length, finish = i, "stop"
                    break
            text = tok.decode(ids[:length], skip_special_tokens=True)
            text, stopped = _cut_at_stop(text, params.stop)
            results[row // n].append(Completion(
                text=text, prompt_tokens=int(prompt_lens[row // n]), completion_tokens=length,
                seconds=per_seq, finish_reason="stop" if stopped else finish))
        return results


def _as_list(x: Any) -> list[int]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def hf(path: str | None = None, **kwargs: Any) -> HFPolicy:
    """The `hf` policy factory: `--policy hf:path=DIR` (a local folder, run directory or hub id)."""
    return HFPolicy(path, **kwargs)
