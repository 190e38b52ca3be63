"""Between TRL's scoring and its update: which prompts a generation batch holds (the curriculum,
`llmgym.train.curriculum`) and which of its groups reach the backward pass (dynamic sampling).

`--dynamic-sampling` decides what happens to the groups (one prompt's `num_generations` completions)
whose rewards are all equal, which give GRPO and RLOO no policy gradient:

    auto             the default: `drop` where that changes no update (grpo with TRL's default loss
                     `dapo` and beta 0, `TrainConfig.dynamic_sampling_mode`), else `off`
    off              trained on as TRL does: zero advantage, full forward and backward cost
    drop             left out of the update: no forward or backward for their sequences
    fill[:tries=N]   left out, and replaced by groups of fresh prompts: up to N extra generation
                     rounds a step (default 2), until the step has its `prompts_per_step` groups

A dropped group costs its generation only; `fill` spends more generation to keep the batch full
(DAPO's dynamic sampling). The zero-variance test is TRL's own (the group's standard deviation of
the weighted reward is close to 0), on the rewards of the env's rubric, so with `--beta` > 0 RLOO's
KL-shaped rewards do not count. With `beta` > 0 a dropped group also leaves the KL term.

How it hooks into TRL, from outside its loop: `GroupSampler.install` wraps two methods of one
trainer object, the same in GRPOTrainer and RLOOTrainer. `_calculate_rewards` returns every
process's rewards (gathered: a group may span processes), which the wrapper keeps;
`_generate_and_score_completions(inputs)` gets each process's slice of a generation batch, built by
TRL's RepeatSampler as `num_generations` copies of each prompt, the global batch split into
contiguous per-process slices. With a curriculum the wrapper replaces those rows before generation
with prompts the curriculum draws at that moment, in the same layout; a sampler could not do this,
because accelerate's data loader fetches one batch ahead (its prompts would be chosen before the
previous batch was scored) and skips the consumed batches again on `--resume`. After scoring it
updates the curriculum and, with dynamic sampling, keeps the rows of the groups with signal.

Every process must train the same number of rows (TRL's loss gathers per-sequence figures across
processes) and at least one per micro-step: a process with fewer kept rows than the busiest one pads
with rows it left out, zero-variance ones first, their advantage set to 0 (they add nothing but the
KL term), so a distributed run saves backward passes only as far as its busiest process does.

`drop` changes no update of TRL's default loss (`dapo`, which divides the batch's summed token
losses by its token count `num_items_in_batch`): a zero-variance row adds 0 to the sum (with
`beta` 0), and the count keeps its tokens, so the step is the one `off` takes, without the backward
passes; renormalising over the kept tokens instead would scale each step up by the share dropped,
a larger step for the same signal. `fill` trains a batch of its own and counts its tokens, as TRL
counts any batch's. Losses normalised per batch (`loss_type` grpo, bnpo) average over
the rows kept.

Logged per step (metrics.jsonl): `dynamic/zero_std_groups` (in the first round),
`dynamic/dropped_groups` (generated but not trained on, every round), `dynamic/kept_fraction`
(groups trained on / `prompts_per_step`), `dynamic/extra_rounds`, `dynamic/loss_sequences` (sequences
in the backward pass) and `dynamic/backward_saved` (1 - loss_sequences / the batch's sequences); with
a curriculum `curriculum/<arm>/share` (the step's prompts), `.../target` (the share the rule asks
for next) and `.../success` (the arm's tracked success rate).
"""

from __future__ import annotations

import difflib
import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from llmgym.errors import LLMGymError

from .curriculum import Curriculum, load_state, save_state

MODES = ("off", "drop", "fill")
PROMPT_KEYS = ("prompt_ids", "prompt_mask")  # left-padded: the prompt ends where the completion starts


@dataclass
class DynamicSampling:
    """`--dynamic-sampling off|drop|fill[:tries=N]`."""

    mode: str = "off"
    tries: int = 2

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise LLMGymError(f"dynamic_sampling must be one of {', '.join(MODES)} or auto (the default: drop where "
                              f"that changes no update), got {self.mode!r}")
        if not isinstance(self.tries, int) or isinstance(self.tries, bool) or self.tries < 1:
            raise LLMGymError(f"dynamic_sampling tries must be an integer >= 1, got {self.tries!r}")
        if self.mode != "fill" and self.tries != 2:
            raise LLMGymError(f"dynamic_sampling {self.mode} takes no tries=; tries bounds fill's extra rounds")

    @property
    def on(self) -> bool:
        return self.mode != "off"

    @classmethod
    def from_spec(cls, spec: "DynamicSampling | str | bool | None") -> "DynamicSampling":
        """A config from `off`, `drop` or `fill[:tries=N]` (YAML's unquoted `off` is False).

        >>> DynamicSampling.from_spec("fill:tries=3").to_spec(), DynamicSampling.from_spec(False).mode
        ('fill:tries=3', 'off')
        """
        from llmgym.registry import parse_name_options

        if isinstance(spec, cls):
            return spec
        if spec is None or spec is False:
            return cls()
        if not isinstance(spec, str):
            raise LLMGymError(f"dynamic_sampling must be off, drop or fill[:tries=N], got {spec!r}")
        mode, options = parse_name_options(spec.strip())
        for key in options:
            if key != "tries":
                close = difflib.get_close_matches(str(key), ["tries"], n=1)
                hint = " (did you mean: tries?)" if close else " (known: tries)"
                raise LLMGymError(f"unknown dynamic_sampling option {key!r}{hint}")
        return cls(mode=mode, **options)

    def to_spec(self) -> str:
        return self.mode + (f":tries={self.tries}" if self.mode == "fill" and self.tries != 2 else "")


class UniformSource:
    """Fresh prompts for `fill` without a curriculum: the dataset's rows in a seeded shuffled order."""

    def __init__(self, size: int, *, seed: int):
        self.size, self.seed, self.cursor, self.passes = size, seed, 0, 0

    def draw(self, n: int) -> list[tuple[None, int]]:
        out = []
        for _ in range(n):
            order = list(range(self.size))
            random.Random(f"{self.seed}/fill/{self.passes}").shuffle(order)
            out.append((None, order[self.cursor]))
            self.cursor += 1
            if self.cursor == self.size:
                self.cursor, self.passes = 0, self.passes + 1
        return out

    def state_dict(self) -> dict[str, int]:
        return {"cursor": self.cursor, "passes": self.passes}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.cursor, self.passes = int(state.get("cursor", 0)) % self.size, int(state.get("passes", 0))


@dataclass
class Round:
    """One generation round of a step: TRL's local output, every process's rewards and the draws."""

    out: dict[str, Any]
    rewards: Any  # (global rows, reward functions), gathered
    draws: list[tuple[str | None, int]] | None  # per prompt, when llmgym chose the prompts


class GroupSampler:
    """The curriculum and dynamic sampling of one GRPO/RLOO trainer (see the module docstring).

    `success_column(arm)` is the index of the reward function that holds an arm's success
    component, or None (the rubric has none: the weighted reward rescaled by `bounds(arm)` stands in).
    """

    def __init__(self, *, curriculum: Curriculum | None, dynamic: DynamicSampling, dataset_size: int, seed: int,
                 success_column: Mapping[str, int | None] | None = None,
                 bounds: Mapping[str, tuple[float, float]] | None = None):
        self.trainer: Any = None
        self.curriculum = curriculum
        self.dynamic = dynamic
        self.columns = dict(success_column or {})
        self.arm_bounds = dict(bounds or {})
        self.fresh = curriculum if curriculum is not None else UniformSource(dataset_size, seed=seed)
        self._last_rewards: Any = None

    def success_column(self, arm: str | None) -> int | None:
        return self.columns.get(arm)  # type: ignore[arg-type]

    def bounds(self, arm: str | None) -> tuple[float, float]:
        return self.arm_bounds.get(arm, (0.0, 1.0))  # type: ignore[arg-type]

    # -- hooking into the trainer ------------------------------------------------------------------
    def install(self, trainer: Any) -> "GroupSampler":
        self.trainer = trainer
        calculate, generate = trainer._calculate_rewards, trainer._generate_and_score_completions

        def calculate_rewards(*args: Any, **kwargs: Any) -> Any:
            self._last_rewards = calculate(*args, **kwargs)
            return self._last_rewards

        def generate_and_score(inputs: list[dict[str, Any]]) -> dict[str, Any]:
            if not trainer.model.training:  # TRL's own evaluation loop: left alone
                return generate(inputs)
            return self.step(inputs, generate)

        trainer._calculate_rewards = calculate_rewards
        trainer._generate_and_score_completions = generate_and_score
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"curriculum": self.curriculum.state_dict() if self.curriculum is not None else None,
                "fill": self.fresh.state_dict() if isinstance(self.fresh, UniformSource) else None}

    def load(self, checkpoint: str) -> bool:
        """Restore the state saved in `checkpoint`; False when it holds none."""
        state = load_state(checkpoint)
        if state is None:
            return False
        if self.curriculum is not None and state.get("curriculum"):
            self.curriculum.load_state_dict(state["curriculum"])
        if isinstance(self.fresh, UniformSource) and state.get("fill"):
            self.fresh.load_state_dict(state["fill"])
        return True

    def save_callback(self) -> Any:
        """A callback that writes the state into each checkpoint folder (main process), before the
        run's own callback marks the checkpoint complete: put it first in the trainer's list."""
        from pathlib import Path

        from transformers import TrainerCallback

        sampler = self

        class SaveSamplingState(TrainerCallback):
            def on_save(self, args, state, control, **kw):
                if state.is_world_process_zero:
                    save_state(Path(args.output_dir) / f"checkpoint-{state.global_step}", sampler.state_dict())

        return SaveSamplingState()

    # -- one generation batch ----------------------------------------------------------------------
    def _draw_rows(self, source: Any, prompts: int, local: int) -> tuple[list[dict[str, Any]], list]:
        """This process's rows of a fresh generation batch of `prompts` prompts, laid out as TRL's
        RepeatSampler and accelerate lay one out: each prompt `num_generations` times, then the
        global batch cut into contiguous per-process slices of `local` rows."""
        draws = source.draw(prompts)
        g, rank = self.trainer.num_generations, self.trainer.accelerator.process_index
        rows = [index for _, index in draws for _ in range(g)][rank * local:(rank + 1) * local]
        dataset = self.trainer.train_dataset
        return [dict(dataset[i]) for i in rows], draws

    def step(self, inputs: list[dict[str, Any]], generate: Callable[[list], dict[str, Any]]) -> dict[str, Any]:
        """One generation batch: draw its prompts (curriculum), generate and score them with TRL's
        `generate`, generate more (fill), keep the groups with signal (drop, fill), log and learn."""
        import torch

        trainer = self.trainer
        local, world, g = len(inputs), trainer.accelerator.num_processes, trainer.num_generations
        prompts = local * world // g
        draws = None
        if self.curriculum is not None:
            inputs, draws = self._draw_rows(self.curriculum, prompts, local)
        rounds = [Round(generate(inputs), self._last_rewards, draws)]
        if not self.dynamic.on:
            self._record(rounds, prompts, kept=None)
            return rounds[0].out
        kept = [self._informative(rounds[0])]
        if self.dynamic.mode == "fill":
            while sum(map(int, (k.sum() for k in kept))) < prompts and len(rounds) <= self.dynamic.tries:
                rows, draws = self._draw_rows(self.fresh, prompts, local)
                rounds.append(Round(generate(rows), self._last_rewards, draws))
                kept.append(self._informative(rounds[-1]))
        chosen = _first_groups(kept, prompts)
        merged = self._merge(rounds, chosen, kept, local)
        in_loss = trainer.accelerator.gather(torch.tensor([merged["prompt_ids"].shape[0]],
                                                          device=merged["prompt_ids"].device)).sum()
        self._record(rounds, prompts, kept=chosen, loss_sequences=int(in_loss))
        return merged

    def _rewards(self, rnd: Round) -> Any:
        """Each global row's weighted reward, NaN where no reward function applied (as TRL has it)."""
        import torch

        rpf = rnd.rewards
        weights = self.trainer.reward_weights.to(rpf.device)
        rewards = (rpf * weights.unsqueeze(0)).nansum(dim=1)
        rewards[torch.isnan(rpf).all(dim=1)] = torch.nan
        return rewards

    def _informative(self, rnd: Round) -> Any:
        """Per group of the round (global order): whether its rewards differ (TRL's zero-std test)."""
        import torch
        from trl.trainer.utils import nanstd

        std = nanstd(self._rewards(rnd).view(-1, self.trainer.num_generations), dim=1)
        return ~torch.isclose(std, torch.zeros_like(std))

    def _merge(self, rounds: list[Round], chosen: list[Any], informative: list[Any], local: int) -> dict[str, Any]:
        """This process's rows of the chosen groups of every round, as one TRL batch.

        TRL's loss gathers per-sequence figures across processes, which needs the same number of rows
        on each, and every micro-step needs rows: a process with fewer than the busiest pads with its
        rows left out (zero-variance ones first), whose advantage is set to 0 (no policy gradient)."""
        import torch

        accelerator = self.trainer.accelerator
        g, rank = self.trainer.num_generations, accelerator.process_index
        picked, flat, surplus = [], [], []  # (round, local row)
        for r, (groups, signal) in enumerate(zip(chosen, informative)):
            rows = groups.repeat_interleave(g)[rank * local:(rank + 1) * local]
            differs = signal.repeat_interleave(g)[rank * local:(rank + 1) * local]
            picked += [(r, i) for i in range(local) if rows[i]]
            flat += [(r, i) for i in range(local) if not rows[i] and not differs[i]]
            surplus += [(r, i) for i in range(local) if not rows[i] and differs[i]]
        steps = self.trainer.args.steps_per_generation
        busiest = int(accelerator.gather(torch.tensor([len(picked)], device=rounds[0].out["prompt_ids"].device)).max())
        target = max(steps, -(-busiest // steps) * steps)
        pads = (flat + surplus)[:target - len(picked)]
        order = [(r, i, False) for r, i in picked] + [(r, i, True) for r, i in pads]
        parts, padded = [], []
        for r in range(len(rounds)):
            mine = [(i, pad) for rr, i, pad in order if rr == r]
            parts.append(_select(rounds[r].out, [i for i, _ in mine]))
            padded += [pad for _, pad in mine]
        # Padding is masked out; the tokenizer's pad id keeps the batch as TRL pads it.
        pad_id = getattr(getattr(self.trainer, "_tokenizer", None) or self.trainer.processing_class, "pad_token_id", 0)
        merged = _concat(parts, pad_id=pad_id if pad_id is not None else 0)
        if any(padded):
            merged["advantages"] = merged["advantages"].clone()
            merged["advantages"][torch.tensor(padded, device=merged["advantages"].device)] = 0.0
        if "num_items_in_batch" in merged and len(rounds) > 1:
            # A filled batch is normalised over its own tokens, as TRL does any batch. A dropped group
            # keeps its tokens in the count: its rows add 0 to the loss's sum, so the update is the one
            # `off` makes, minus the backward passes (a smaller count would scale the step up).
            mask = merged["completion_mask"] * merged.get("tool_mask", 1)
            merged["num_items_in_batch"] = accelerator.gather(mask.sum()).sum()
        return merged

    # -- what the step logs and the curriculum learns ---------------------------------------------
    def _record(self, rounds: list[Round], prompts: int, kept: list[Any] | None, loss_sequences: int = 0) -> None:
        """Log the step's figures (the same on every process: from gathered rewards) and update the
        curriculum with every round's scores."""
        metrics = self.trainer._metrics["train"]
        g = self.trainer.num_generations
        if kept is not None:
            trained = sum(int(k.sum()) for k in kept)
            generated = sum(r.rewards.shape[0] // g for r in rounds)
            metrics["dynamic/zero_std_groups"].append(float((~self._informative(rounds[0])).sum()))
            metrics["dynamic/dropped_groups"].append(float(generated - trained))
            metrics["dynamic/kept_fraction"].append(trained / prompts)
            metrics["dynamic/extra_rounds"].append(float(len(rounds) - 1))
            metrics["dynamic/loss_sequences"].append(float(loss_sequences))
            metrics["dynamic/backward_saved"].append(1.0 - loss_sequences / (prompts * g))
        if self.curriculum is None:
            return
        results: dict[str, list[float]] = {arm: [0.0, 0] for arm in self.curriculum.arms}
        drawn: dict[str, int] = {arm: 0 for arm in self.curriculum.arms}
        for rnd in rounds:
            if rnd.draws is None:
                continue
            rewards = self._rewards(rnd)
            for p, (arm, _) in enumerate(rnd.draws):
                drawn[arm] += 1
                column = self.success_column(arm)
                for row in range(p * g, (p + 1) * g):
                    value = float(rnd.rewards[row, column]) if column is not None else float(rewards[row])
                    if value != value:  # NaN: not scored
                        continue
                    if column is None:
                        lo, hi = self.bounds(arm)
                        value = (value - lo) / (hi - lo) if hi > lo else float(value > lo)
                    results[arm][0] += min(1.0, max(0.0, value))
                    results[arm][1] += 1
        self.curriculum.update({arm: (s, int(n)) for arm, (s, n) in results.items()})
        total = sum(drawn.values()) or 1
        target = self.curriculum.shares()
        for arm in self.curriculum.arms:
            metrics[f"curriculum/{arm}/share"].append(drawn[arm] / total)
            metrics[f"curriculum/{arm}/target"].append(target[arm])
            rate = self.curriculum.rate(arm)
            if rate is not None:
                metrics[f"curriculum/{arm}/success"].append(rate)


def _first_groups(kept: Sequence[Any], prompts: int) -> list[Any]:
    """The first `prompts` informative groups across the rounds (in round, then global, order)."""
    chosen, left = [], prompts
    for groups in kept:
        take = groups.clone()
        positions = groups.nonzero().flatten()
        take[positions[left:]] = False
        left -= int(take.sum())
        chosen.append(take)
    return chosen


def _select(out: Mapping[str, Any], rows: list[int]) -> dict[str, Any]:
    """The `rows` of one TRL batch (every per-row tensor; a scalar such as num_items_in_batch kept)."""
    import torch

    n = out["prompt_ids"].shape[0]
    index = torch.tensor(rows, dtype=torch.long, device=out["prompt_ids"].device)
    picked = {}
    for key, value in out.items():
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n:
            picked[key] = value.index_select(0, index)
        elif isinstance(value, torch.Tensor) and value.dim() == 0:
            picked[key] = value
        elif value is None:
            picked[key] = None
        else:
            raise LLMGymError(f"--dynamic-sampling cannot split TRL's batch field {key!r} (a multimodal batch?); "
                              "use --dynamic-sampling off")
    return picked


def _concat(parts: Sequence[Mapping[str, Any]], *, pad_id: int) -> dict[str, Any]:
    """One batch from several (rounds generated apart, so padded to different widths): prompt
    tensors padded on the left, completion-aligned ones on the right."""
    import torch
    import torch.nn.functional as F

    parts = [p for p in parts if p["prompt_ids"].shape[0] > 0] or list(parts[:1])
    if len(parts) == 1:
        return dict(parts[0])
    merged: dict[str, Any] = {}
    for key, first in parts[0].items():
        values = [p[key] for p in parts]
        if first is None or first.dim() == 0:
            merged[key] = first
            continue
        if first.dim() == 1:
            merged[key] = torch.cat(values)
            continue
        width = max(v.shape[1] for v in values)
        fill = pad_id if key in ("prompt_ids", "completion_ids") else 1 if key == "tool_mask" else 0
        left = key in PROMPT_KEYS
        merged[key] = torch.cat([F.pad(v, (width - v.shape[1], 0) if left else (0, width - v.shape[1]), value=fill)
                                 for v in values])
    return merged
