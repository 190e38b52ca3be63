"""The contract of a training algorithm: `Algorithm.fit(ctx: RunContext) -> FitResult`.

An algorithm is a plugin (hook `llmgym_register_algorithms`); the built-ins `grpo`, `rloo`, `bon` and
`sft` (`llmgym.algorithms`) register exactly like a third party's. `llmgym.train.run` does everything
around the algorithm once for all of them: the env (or mixture) and policy, the run directory,
held-out evaluation before and after, resuming, the over-optimisation guard, saving `final/` and the
summary. The algorithm trains from `ctx.checkpoint` (step `ctx.done_steps`) up to `ctx.config.steps`
and says where it stopped.

What an algorithm can train is declared on its class, so a run that cannot work fails before any
model loads, with the same one-line errors for every algorithm:

- `min_generations`: the least `num_generations` it works with (2 for group baselines);
- `trains_mixtures`, `trains_tool_envs`: whether it takes a `Mixture` of envs, or a `ToolEnv`;
- `guarded`: whether a run against a learned reward gets the over-optimisation guard;
- `kl_reference`: whether `beta > 0` needs the starting weights as a reference model;
- `learning_rate(is_tiny)`, `default_steps(is_tiny)`: the defaults of `--learning-rate`, `--steps`;
- `trl_config`: the TRL config it builds ("trl:GRPOConfig"), whose fields `--trl KEY=VALUE` sets.

A minimal algorithm (a real one trains `ctx.model`, here it only counts):

>>> class Nothing(Algorithm):
...     name = "nothing"
...     def fit(self, ctx):
...         return FitResult(ctx.model, ctx.config.steps)
>>> Nothing().min_generations, Nothing().trains_mixtures
(1, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from llmgym.errors import LLMGymError


@dataclass
class RunContext:
    """What a run hands its algorithm. `env` is a `TextEnv`, or a `llmgym.mixture.Mixture` when the
    algorithm `trains_mixtures` and several envs were given; `policy` is the `TrainablePolicy` whose
    `model` and `tokenizer` are trained (already on the run's device)."""

    config: Any  # llmgym.train.config.TrainConfig, resolved
    env: Any
    policy: Any
    run: Any  # llmgym.train.rundir.RunDir
    callbacks: list[Any]  # transformers TrainerCallbacks: metrics rows, evaluation, checkpoint markers, guard
    evaluate: Callable[[Any], dict[str, float]]  # held-out figures of a model (main process)
    say: Callable[[str], None]  # a line for the user (main process only)
    rank: int = 0
    world_size: int = 1
    checkpoint: str | None = None  # the checkpoint to resume from
    done_steps: int = 0  # the steps that checkpoint holds
    on_scores: Callable[..., None] | None = None  # reward functions' hook that writes samples.jsonl
    guard: Any = None  # the over-optimisation guard (also in `callbacks`), when the run has one

    @property
    def model(self) -> Any:
        return self.policy.model

    @property
    def tokenizer(self) -> Any:
        return self.policy.tokenizer

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def checkpoints(self) -> str:
        """Where the trainer writes `checkpoint-N` folders (what `--resume` reads)."""
        return str(self.run.checkpoints)


@dataclass
class FitResult:
    """The trained model (LoRA adapters still attached) and the steps the run has done in all."""

    model: Any
    steps: int
    metrics: dict[str, float] = field(default_factory=dict)


class Algorithm:
    """Base of training algorithms: subclass it, set `name`, declare what differs, implement `fit`."""

    name: str = ""
    min_generations: int = 1
    trains_mixtures: bool = True
    trains_tool_envs: bool = False
    guarded: bool = True
    kl_reference: bool = False
    #: "module:Class" of the TRL config dataclass it builds (checked against by `--trl`); None: no TRL config
    trl_config: str | None = None
    #: a one-phrase description shown in errors, e.g. "advantages compare a group"
    generations_why: str = "it compares a group of completions"
    #: TRL `loss_type`s under which a group whose rewards are all equal adds nothing to the update (with
    #: beta 0): `--dynamic-sampling auto` leaves such groups out of the backward pass only then
    flat_groups_add_nothing: tuple[str, ...] = ()

    def learning_rate(self, is_tiny: bool) -> float:
        """The default learning rate: pretrained policies take small steps, from-scratch tiny ones ~1000x."""
        return 5e-4 if is_tiny else 2e-6

    def default_steps(self, is_tiny: bool) -> int:
        return 40 if is_tiny else 16

    def check_config(self, cfg: Any) -> None:
        """Refuse options this algorithm cannot train with (one line each, before any work)."""
        if cfg.num_generations < self.min_generations:
            raise LLMGymError(f"num_generations must be >= {self.min_generations} for {self.name} "
                              f"({self.generations_why}), got {cfg.num_generations}")

    def fit(self, ctx: RunContext) -> FitResult:
        raise NotImplementedError


def algorithm_names() -> list[str]:
    """The registered algorithms, built-ins first in the order they register (grpo, rloo, bon, sft)."""
    from llmgym.plugins import default_gym

    return default_gym().registry("algorithms").registered()


def get_algorithm(name: str) -> Algorithm:
    """The algorithm registered as `name`; an unknown name is one line listing the known ones."""
    from llmgym.plugins import default_gym

    registry = default_gym().registry("algorithms")
    if name not in registry:
        names = algorithm_names()
        failed = "".join(f"; plugin {p} failed to load: {why}" for p, why in sorted(registry.failed_plugins.items()))
        raise LLMGymError(f"--algo must be one of {', '.join(names)}, got {name!r}{failed}")
    algorithm = registry.make(name)
    if not isinstance(algorithm, Algorithm):
        raise LLMGymError(f"algorithm {name!r} from {registry.spec(name).source} is a {type(algorithm).__name__}, "
                          "not an llmgym.train.algorithm.Algorithm: its factory must return one")
    if not getattr(algorithm, "name", ""):
        algorithm.name = name
    return algorithm


def mixture_algorithms() -> list[str]:
    """The registered algorithms that train a mixture of envs (for the error that refuses one)."""
    return [n for n in algorithm_names() if getattr(get_algorithm(n), "trains_mixtures", True)]


def spoken_list(names: list[str]) -> str:
    """`a, b or c`.

    >>> spoken_list(["grpo", "rloo", "sft"])
    'grpo, rloo or sft'
    """
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
