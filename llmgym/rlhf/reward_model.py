"""Reward models: fit a scalar reward to rankings with TRL's `RewardTrainer`, score batches with it.

`llmgym rm train --data rankings.jsonl --base POLICY --out DIR`:

1. reads the rankings (format: `llmgym.rlhf.rankings`) and turns every ranking into the pairs it
   implies (ties give none);
2. holds out a share of the *prompts* (by a hash of the record, so all pairs of a prompt fall on
   one side) for evaluation;
3. builds a sequence-classification model with one output from the base policy's causal LM (same
   backbone weights, a fresh scalar head) and trains it with `RewardTrainer`: the Bradley-Terry
   loss -log sigmoid(r(chosen) - r(rejected));
4. reports held-out pairwise accuracy (share of held-out pairs ordered like the labels; an equal
   score counts half) and, when records carry their task, accuracy against the gold labeler;
5. saves model, tokenizer and `llmgym_rm.json` (base, metrics, the mean and spread of training
   rewards that `RewardScorer.squash` uses to map raw scores into (0, 1)).

Prompt and completion are encoded exactly the same way in training and scoring (`encode`): the
chat template over the prompt messages plus one assistant turn, cut from the left to `max_length`
tokens so the completion is always seen.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from llmgym.errors import LLMGymError
from llmgym.io import json_problem, read_json, save_model_dir
from llmgym.options import option

from . import rankings as rk

META_FILE = "llmgym_rm.json"


def encode(tokenizer: Any, prompt: Any, completion: str, max_length: int = 512) -> list[int]:
    """Token ids of prompt + completion as the reward model reads them (left-truncated)."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    messages = messages + [{"role": "assistant", "content": completion}]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    else:
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids[-max_length:]


def held_out(record: dict[str, Any], fraction: float) -> bool:
    """Whether a record belongs to the held-out share (by a hash of its prompt: stable, order-free)."""
    key = json.dumps(record.get("prompt"), sort_keys=True)
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000 < fraction


def _checkpointing_as_declared(config_class: type) -> dict[str, bool]:
    """The config's own default for activation recomputation, under its current name: transformers 5
    renamed `gradient_checkpointing` to `activation_checkpointing` and warns on every config that
    leaves the new name unset (TRL's configs set the old one)."""
    from dataclasses import fields

    declared = {f.name: f.default for f in fields(config_class)}
    if "activation_checkpointing" not in declared:
        return {}
    return {"activation_checkpointing": bool(declared.get("gradient_checkpointing", False))}


def reward_model_from_policy(model: Any) -> Any:
    """A sequence-classification model (1 output) sharing the causal LM's backbone weights."""
    import copy

    from transformers import AutoModelForSequenceClassification

    config = copy.deepcopy(model.config)
    config.num_labels = 1
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = config.eos_token_id if isinstance(config.eos_token_id, int) else 0
    rm = AutoModelForSequenceClassification.from_config(config)
    missing, _ = rm.load_state_dict(model.state_dict(), strict=False)
    if any(not k.startswith("score") for k in missing):
        raise LLMGymError(f"base model's backbone does not fit a sequence classifier (missing {missing[:3]})")
    return rm


@dataclass
class RMConfig:
    """What `llmgym rm train` fits; each field is its flag (`llmgym.options`: `--max-length`, `--lr`)."""

    data: str = option(help="rankings JSONL file (format: llmgym.rlhf.rankings)")
    base: str = option("tiny", "policy whose backbone starts the reward model: tiny, smollm2, hf:path=DIR or a "
                               "run directory")
    out: str = option("rm", "folder to save the reward model in")
    steps: int = option(200, "optimizer steps")
    batch_size: int = option(16, "pairs per step")
    learning_rate: float | None = option(None, "learning rate (default 1e-3 tiny, 1e-5 pretrained)")
    max_length: int = option(512, "most tokens of prompt + completion")
    eval_fraction: float = option(0.2, "share of prompts held out")
    seed: int = option(0, "seed of the held-out split and the trainer")


class RewardScorer:
    """Batch scoring with a saved reward model: raw scalars, and `squash` into (0, 1)."""

    def __init__(self, model: Any, tokenizer: Any, *, mean: float = 0.0, std: float = 1.0,
                 max_length: int = 512, batch_size: int = 32):
        self.model, self.tokenizer = model, tokenizer
        self.mean, self.std = float(mean), float(std) or 1.0
        self.max_length, self.batch_size = int(max_length), int(batch_size)

    @classmethod
    def load(cls, path: str, *, device: str | None = None, batch_size: int = 32) -> "RewardScorer":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        meta_path = Path(path) / META_FILE
        try:
            meta = read_json(meta_path) if meta_path.is_file() else {}
        except ValueError as exc:
            raise LLMGymError(f"{meta_path}: {json_problem(exc)}; save the reward model again") from None
        try:
            tok = AutoTokenizer.from_pretrained(path)
            model = AutoModelForSequenceClassification.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise LLMGymError(f"cannot load reward model {path!r}: {str(exc).splitlines()[0]}") from exc
        if device:
            model.to(device)
        model.eval()
        return cls(model, tok, mean=meta.get("reward_mean", 0.0), std=meta.get("reward_std", 1.0),
                   max_length=meta.get("max_length", 512), batch_size=batch_size)

    def score(self, prompts: Sequence[Any], completions: Sequence[str]) -> list[float]:
        """Raw reward of each (prompt, completion), in batches."""
        import torch

        ids = [encode(self.tokenizer, p, c, self.max_length) for p, c in zip(prompts, completions)]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out: list[float] = []
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(ids), self.batch_size):
                chunk = ids[start:start + self.batch_size]
                width = max(len(x) for x in chunk) or 1
                input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for i, x in enumerate(chunk):
                    input_ids[i, :len(x)] = torch.tensor(x, dtype=torch.long)
                    mask[i, :len(x)] = 1
                dev = next(self.model.parameters()).device
                with torch.no_grad():
                    logits = self.model(input_ids=input_ids.to(dev), attention_mask=mask.to(dev)).logits
                out.extend(float(v) for v in logits[:, 0].float().cpu())
        finally:
            if was_training:
                self.model.train()
        return out

    def squash(self, raw: float) -> float:
        z = (raw - self.mean) / self.std
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def pairwise_accuracy(scorer: RewardScorer, pairs: Sequence[dict[str, Any]]) -> float:
    """Share of pairs the scorer orders like the label (chosen above rejected; equal counts half)."""
    if not pairs:
        return float("nan")
    chosen = scorer.score([p["prompt"] for p in pairs], [p["chosen"] for p in pairs])
    rejected = scorer.score([p["prompt"] for p in pairs], [p["rejected"] for p in pairs])
    return sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected)) / len(pairs)


def gold_pairs(records: Sequence[dict[str, Any]], gold: Any = None) -> list[dict[str, Any]]:
    """Pairs ordered by the gold labeler `gold` (default: the registered `gold` reward) for records
    that carry their task (ties dropped)."""
    from llmgym.types import Task

    from .simulate import default_gold

    out = []
    gold = gold if gold is not None else default_gold()
    for rec in records:
        if not isinstance(rec.get("task"), dict):
            continue
        task = Task.from_dict(rec["task"])
        comps = rec["completions"]
        vals = [s.value for s in gold.score_batch(comps, [task] * len(comps))]
        for i in range(len(comps)):
            for j in range(len(comps)):
                if vals[i] > vals[j] and comps[i] != comps[j]:
                    out.append({"prompt": rec["prompt"], "chosen": comps[i], "rejected": comps[j]})
    return out


def train_reward_model(cfg: RMConfig, *, say: Any = print, gold: Any = None) -> dict[str, Any]:
    """Fit, evaluate and save a reward model (see module docstring); returns the metrics. Held-out
    pairs that carry their task are also scored against `gold` (default: the registered `gold` reward)."""
    import torch
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from llmgym.train.run import load_policy

    records = [r for r in rk.read(cfg.data, strict=True) if r.get("ranking") is not None]
    if not records:
        raise LLMGymError(f"{cfg.data} holds no ranked records")
    train_recs = [r for r in records if not held_out(r, cfg.eval_fraction)]
    eval_recs = [r for r in records if held_out(r, cfg.eval_fraction)]
    train_pairs = list(rk.preference_pairs(train_recs))
    eval_pairs = list(rk.preference_pairs(eval_recs))
    if not train_pairs:
        raise LLMGymError(f"{cfg.data}: the rankings imply no pairs to train on (all tied?)")
    ties = sum(rk.tied_pairs(r["ranking"]) for r in records)
    say(f"{len(records)} rankings -> {len(train_pairs)} train pairs, {len(eval_pairs)} held-out pairs "
        f"({len(eval_recs)} prompts held out; {ties} tied pairs give no signal)")

    torch.manual_seed(cfg.seed)
    policy = load_policy(cfg.base, cfg.seed)
    tokenizer = policy.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    n_params = sum(p.numel() for p in policy.model.parameters())
    lr = cfg.learning_rate or (1e-3 if n_params < 10_000_000 else 1e-5)
    model = reward_model_from_policy(policy.model)
    rows = [{"chosen_ids": encode(tokenizer, p["prompt"], p["chosen"], cfg.max_length),
             "rejected_ids": encode(tokenizer, p["prompt"], p["rejected"], cfg.max_length)} for p in train_pairs]
    random.Random(cfg.seed).shuffle(rows)
    args = RewardConfig(
        output_dir=str(Path(cfg.out) / ".trainer"), max_steps=cfg.steps, per_device_train_batch_size=cfg.batch_size,
        learning_rate=lr, lr_scheduler_type="constant", warmup_steps=0, logging_steps=max(1, cfg.steps // 10),
        save_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(), bf16=False,
        disable_tqdm=True, max_length=cfg.max_length, seed=cfg.seed, data_seed=cfg.seed,
        dataloader_num_workers=0, center_rewards_coefficient=0.01, **_checkpointing_as_declared(RewardConfig))
    trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    trainer.train()
    model = trainer.model
    scorer = RewardScorer(model, tokenizer, max_length=cfg.max_length)
    sample = train_pairs[:128]
    raws = scorer.score([p["prompt"] for p in sample] * 2, [p["chosen"] for p in sample] + [p["rejected"] for p in sample])
    mean = sum(raws) / len(raws)
    std = math.sqrt(sum((r - mean) ** 2 for r in raws) / len(raws)) or 1.0
    metrics = {"train_pairs": len(train_pairs), "heldout_pairs": len(eval_pairs), "heldout_prompts": len(eval_recs),
               "train_accuracy": pairwise_accuracy(scorer, train_pairs[:128]),
               "heldout_accuracy": pairwise_accuracy(scorer, eval_pairs)}
    gp = gold_pairs(eval_recs, gold)
    if gp:
        metrics["heldout_gold_accuracy"] = pairwise_accuracy(scorer, gp)
        metrics["heldout_gold_pairs"] = len(gp)
    meta = {"base": cfg.base, "config": asdict(cfg), "reward_mean": mean, "reward_std": std,
            "max_length": cfg.max_length, "metrics": metrics}
    # One folder, renamed into place whole: a kill while saving leaves the previous reward model.
    save_model_dir(cfg.out, model, tokenizer, files={META_FILE: json.dumps(meta, indent=2) + "\n"})
    return metrics
