"""One training run from a `TrainConfig`: build env and policy, evaluate held-out accuracy, hand the
algorithm to TRL, evaluate again, save the final model and print the before -> after summary.

Under `accelerate launch` or `torchrun` every process runs this; only the main process evaluates
and writes the run directory, and the summary records every rank that finished (gathered), which is
how a distributed run proves that all ranks took part.

config.yaml and summary.json record the env's version (`TextEnv.version`); `--resume` of a run
trained on another version of its env is refused (one run, one eval set).

`--resume` of a finished run returns its summary without writing anything; of a run whose
checkpoint already reaches `--steps` (a kill during the final evaluation or while saving final/),
it trains no step and finishes from that checkpoint (see `llmgym.train.rundir`).

A mixture of envs (`env` a list, `llmgym.mixture`) trains on prompts drawn from every env by weight,
each scored by its own env (`llmgym.train.data`). Held-out evaluation runs each env's own eval split
(`eval_tasks` each) and logs `eval/<label>/accuracy`, ... next to the overall `eval/accuracy`,
pooled over every env's eval tasks; config.yaml records the list, and summary.json each env's
version and share. Tool envs and envs with a learned reward (whose over-optimisation guard watches
one env) train alone, and `bon` trains one env.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Sequence

from llmgym.errors import LLMGymError
from llmgym.memory import return_freed_memory, trim
from llmgym.mixture import Mixture
from llmgym.cpu_dtype import resolve_rollout_dtype, sample_in

from .algorithm import Algorithm, RunContext, algorithm_names, get_algorithm, spoken_list
from .callbacks import eval_row, evaluate, figures_line, make_callbacks, sample_logger
from .config import TrainConfig, env_specs
from .rundir import RunDir


def freeze_embeddings(model: Any) -> None:
    """Keep the token embeddings (and an output layer tied to them) fixed: no gradient, no optimizer
    state. In SmolLM2-135M they are 28M of the 135M weights, the largest single tensor, so they also
    set the size of the optimizer's per-tensor temporaries (Adafactor's step: ~220 MB). The blocks
    after them still train; their inputs need no gradient, so recomputation works unchanged."""
    model.get_input_embeddings().weight.requires_grad_(False)
    output = model.get_output_embeddings()
    if output is not None:
        output.weight.requires_grad_(False)


def load_policy(spec: str, seed: int) -> Any:
    """A trainable policy from a name (`tiny`, `hf:path=...`), or a checkpoint/run directory: an entry
    whose registration says `trainable=True` and that is a `llmgym.types.TrainablePolicy`. A factory
    that takes a `seed` (one that builds its weights) gets the run's."""
    import inspect

    from llmgym.plugins import default_gym, is_policy_path
    from llmgym.registry import parse_name_options
    from llmgym.types import TrainablePolicy

    gym = default_gym()
    name = "hf" if is_policy_path(spec) else parse_name_options(spec)[0]
    entry = gym.registry("policies").spec(name)
    refused = LLMGymError(f"policy {spec!r} cannot be trained (it exposes no transformers model); "
                          "use smollm2, tiny, hf:path=... or a run directory")
    if not entry.metadata.get("trainable"):
        raise refused
    try:
        takes_seed = "seed" in inspect.signature(entry.load()).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        takes_seed = False
    policy = gym.make_policy(spec, **({"seed": seed} if takes_seed else {}))
    if not isinstance(policy, TrainablePolicy):
        raise refused
    return policy


def default_out(cfg: TrainConfig) -> str:
    if isinstance(cfg.env, str):
        env = cfg.env.split(":", 1)[0]
    else:
        env = "+".join(spec.split(":", 1)[0].split("@", 1)[0].replace("/", "_") for spec in cfg.env)
    return str(Path("runs") / f"{env}-{cfg.algo}-{time.strftime('%Y%m%d-%H%M%S')}")


def has_learned_reward(env: Any) -> bool:
    """Whether an env is scored by a learned reward: its rubric keeps the labeler that reward stands
    in for (role `oracle`, the rlhf env's gold) at weight 0."""
    from llmgym.rubric import ORACLE, Rubric

    oracle = env.rubric.entry_with_role(ORACLE) if isinstance(env.rubric, Rubric) else None
    return oracle is not None and not oracle[1]


def check_mixture(cfg: TrainConfig, mixture: Mixture, algorithm: Algorithm) -> None:
    """What a mixture of several envs cannot train, found once its envs are built."""
    from llmgym.env import ToolEnv

    for share in mixture:
        if isinstance(share.env, ToolEnv):
            raise LLMGymError(f"{share.label!r} is a tool env, which trains alone (TRL's environment_factory gives "
                              "every prompt of a run the same tools): train it without the other envs")
        if algorithm.guarded and has_learned_reward(share.env):
            raise LLMGymError(f"{share.label!r} is scored by a learned reward, whose over-optimisation guard "
                              "watches one env: train it without the other envs")


def mixture_figures(per_env: dict[str, dict[str, float]]) -> dict[str, float]:
    """Held-out figures of a mixture: accuracy, reward and length pooled over every env's eval tasks,
    then each env's own under `<label>/`.

    >>> mixture_figures({"a": {"accuracy": 1.0, "reward": 1.0, "length": 2.0, "n": 1},
    ...                  "b": {"accuracy": 0.0, "reward": 0.5, "length": 4.0, "n": 3}})["accuracy"]
    0.25
    """
    total = sum(f.get("n", 0) for f in per_env.values())
    # format pools where every env has one; intervals stay per env (each is clustered by its own tasks)
    keys = ("accuracy", "reward", "length") + (("format",) if all("format" in f for f in per_env.values()) else ())
    pooled: dict[str, float] = {
        key: (sum(f[key] * f.get("n", 0) for f in per_env.values()) / total if total else 0.0) for key in keys}
    pooled["n"] = total
    for label, figures in per_env.items():
        pooled.update({f"{label}/{k}": v for k, v in figures.items()})
    return pooled


def train(cfg: TrainConfig, *, resume: bool = False, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Run training as configured; returns the summary (also written to summary.json).

    `callbacks` are added to the run's own: each a transformers `TrainerCallback`, or a function of the
    `RunContext` that returns one (called once env, policy and run directory exist, e.g. to build a
    probe over `ctx.policy`). Every algorithm gets them, `bon` included."""
    import torch
    from accelerate import PartialState
    from rich.console import Console

    import llmgym

    state = PartialState(cpu=not torch.cuda.is_available())
    is_main, world = state.is_main_process, state.num_processes
    console = Console(highlight=False, soft_wrap=True)

    def say(msg: str) -> None:
        if is_main:
            console.print(msg)

    started = time.perf_counter()
    return_freed_memory()  # only with LLMGYM_MMAP_THRESHOLD: a fixed mmap threshold (llmgym.memory)
    torch.manual_seed(cfg.seed)
    algorithm = get_algorithm(cfg.algo)
    mixture = Mixture.from_specs(env_specs(cfg.env), make=llmgym.make)
    env = mixture.shares[0].env
    from llmgym.env import UNRECORDED, ToolEnv

    if len(mixture) > 1:
        check_mixture(cfg, mixture, algorithm)
        # One line of config.yaml records every env's version: any change makes another experiment.
        env_version = json.dumps({s.label: str(s.env.version) for s in mixture})
        shown_env = " + ".join(cfg.env)
    else:
        if isinstance(env, ToolEnv) and not algorithm.trains_tool_envs:
            # Only GRPOTrainer runs tools (environment_factory); bon's SFT rounds see single completions.
            able = [n for n in algorithm_names() if get_algorithm(n).trains_tool_envs]
            raise LLMGymError(f"--algo {cfg.algo} cannot train tool envs; use --algo {spoken_list(able)}, or the "
                              "env without tools=")
        env_version = str(env.version)
        shown_env = str(cfg.env)
    policy = load_policy(cfg.policy, cfg.seed)
    # Learning-rate defaults follow model size: a from-scratch tiny model needs ~1000x a pretrained one's.
    n_params = sum(p.numel() for p in policy.model.parameters())
    is_tiny = n_params < 10_000_000
    cfg = cfg.resolved(is_tiny=is_tiny)
    run = RunDir(cfg.out or default_out(cfg))
    cfg = dataclasses.replace(cfg, out=str(run.path))
    model, tokenizer = policy.model, policy.tokenizer
    if torch.cuda.is_available():
        model.to(state.device)
    cfg = dataclasses.replace(cfg, base_dtype=frozen_base_dtype(cfg, model))
    base_cast = bool(cfg.lora) and str(model.dtype).removeprefix("torch.") != cfg.base_dtype
    if base_cast:
        # Frozen weights are only read: half the bytes (and, where bf16 is faster, faster steps and
        # sampling) without a second copy; the adapter itself is kept in fp32 by peft.
        model.to(getattr(torch, cfg.base_dtype))
    if not cfg.lora and not cfg.train_embeddings:
        freeze_embeddings(model)
    # Rollouts and held-out answers come from a copy cast at each generate call (llmgym.rollouts).
    cfg = dataclasses.replace(cfg, rollout_dtype=resolve_rollout_dtype(cfg.rollout_dtype, model, is_tiny=is_tiny,
                                                                       lora=bool(cfg.lora)))
    sample_in(model, cfg.rollout_dtype)
    eval_tasks = {s.label: list(s.env.tasks("eval", n=cfg.eval_tasks, seed=cfg.seed)) for s in mixture}
    eval_count = sum(len(tasks) for tasks in eval_tasks.values())

    def evaluate_now(m: Any) -> dict[str, float]:
        trim()  # training's freed buffers leave before generation's KV cache comes (llmgym.memory)
        max_tokens = cfg.eval_max_tokens or cfg.max_completion_length
        sampling = dict(samples=cfg.eval_samples or 1, temperature=cfg.eval_temperature or 0.0, seed=cfg.seed)
        if len(mixture) == 1:
            return evaluate(env, policy.with_model(m), eval_tasks[mixture.labels[0]], max_tokens, **sampling)
        return mixture_figures({s.label: evaluate(s.env, policy.with_model(m), eval_tasks[s.label], max_tokens,
                                                  **sampling) for s in mixture})

    checkpoint, done_steps, before = None, 0, None
    if resume:
        finished = run.finished_summary(cfg.steps)
        if finished is not None:
            # summary.json is the run's last write: nothing is left to do, and rerunning the final
            # evaluation would only log it twice.
            say(f"{run.path} is finished ({finished.get('steps')} steps; summary.json): nothing to train")
            if is_main:
                _remove_leftovers(run, say)
                _print_summary(console, finished)
            state.wait_for_everyone()
            return finished
        recorded = run.recorded_env_version()
        if recorded is not None and recorded != env_version:
            # Steps trained on two versions' tasks would make one curve of two experiments.
            shown = f"{recorded!r}" + (" (written before env versions were recorded)" if recorded == UNRECORDED
                                       else "")
            what = "versions" if len(mixture) > 1 else "version"
            raise LLMGymError(f"{run.path} was trained on {shown_env} {what} {shown}, but {shown_env} is now "
                              f"{what} {env_version!r}: train this version into a fresh --out")
        found = run.latest_checkpoint()
        if found is not None:
            checkpoint, done_steps = str(found[0]), found[1]
        before = next((_figures(r) for r in run.rows() if r.get("step") == 0 and "eval/accuracy" in r), None)
        if is_main:
            _remove_leftovers(run, say)
            run.drop_checkpoints_after(done_steps)
            run.cut_after(done_steps)
            run.write_config(cfg.to_dict(), env_version=env_version)  # flags given with --resume are recorded
        say(f"resuming {run.path} from step {done_steps}" + ("" if checkpoint else " (no checkpoint yet)"))
    elif is_main:
        if run.metrics.exists() or run.final.exists():
            raise LLMGymError(f"{run.path} already holds a run: pass --resume {run.path} or another --out")
        run.write_config(cfg.to_dict(), env_version=env_version)
    state.wait_for_everyone()
    say(f"llmgym train: env {shown_env}, policy {cfg.policy}, algo {cfg.algo}, {cfg.steps} steps, "
        f"{world} process(es) -> {run.path}")
    if len(mixture) > 1:
        say("mixture: " + ", ".join(f"{label} {fraction:.0%} of prompts" for label, fraction in
                                     mixture.fractions().items()))
    if before is None and is_main:
        how = ("greedy" if not cfg.eval_temperature else
               f"{cfg.eval_samples} samples each at temperature {cfg.eval_temperature:g}, seed {cfg.seed}")
        if eval_count:
            say(f"held-out evaluation on {eval_count} eval tasks ({how}) ...")
        before = evaluate_now(model)
        run.log_metrics(eval_row(0, before))
        say(f"before: {figures_line(before)}" + _per_env_accuracy(mixture, before))

    if done_steps >= cfg.steps:
        # Killed during the final evaluation or while saving final/: the trainer would run one
        # more step from a checkpoint at max_steps, so the run is finished from the checkpoint.
        say(f"checkpoint-{done_steps} already reaches --steps {cfg.steps}: finishing without training")
        if checkpoint is not None:
            model = _load_checkpoint(checkpoint, model)
        steps_done = done_steps
    else:
        model, steps_done = _fit(algorithm, cfg, env if len(mixture) == 1 else mixture, policy, run, state,
                                 checkpoint, done_steps, say=say, evaluate_now=evaluate_now, extra=callbacks)
    sample_in(model, cfg.rollout_dtype)  # a model loaded from a checkpoint samples as the trained one did
    from accelerate.utils import gather_object

    ranks = gather_object([{"rank": state.process_index, "world_size": world, "steps": int(steps_done)}])
    summary: dict[str, Any] = {}
    if is_main:
        # No step trained in this process: the model is the checkpoint's, whose final evaluation
        # may already be logged (a kill while saving final/).
        after = _logged_eval(run, int(steps_done)) if steps_done == done_steps else None
        if after is None:
            # The adapter as trained, over the same frozen weights "before" sampled from.
            after = evaluate_now(model)
            run.log_metrics(eval_row(int(steps_done), after))
    if cfg.lora and hasattr(model, "merge_and_unload"):
        # final/ loads as a plain model (--policy RUN); weights cast to bf16 for training are merged
        # in fp32 again, since a small update added to bf16 weights would mostly round away.
        model = (model.float() if base_cast else model).merge_and_unload()
    if is_main:
        run.save_model(run.final, model, tokenizer)
        summary = {"run": str(run.path), "env": cfg.env, "env_version": env_version, "policy": cfg.policy,
                   "algo": cfg.algo,
                   "steps": int(steps_done), "target_steps": cfg.steps, "before": before, "after": after,
                   "eval": {"tasks": eval_count, "samples": cfg.eval_samples, "temperature": cfg.eval_temperature,
                            "seed": cfg.seed},
                   "wall_seconds": time.perf_counter() - started, "ranks": ranks}
        if len(mixture) > 1:
            fractions = mixture.fractions()
            summary["env_version"] = json.loads(env_version)
            summary["mixture"] = [{"env": s.label, "weight": s.weight, "fraction": fractions[s.label]} for s in mixture]
        run.write_summary(summary)
        _print_summary(console, summary)
    state.wait_for_everyone()
    return summary


def _fit(algorithm: Algorithm, cfg: TrainConfig, env: Any, policy: Any, run: RunDir, state: Any,
         checkpoint: str | None, done_steps: int, *, say: Any, evaluate_now: Any,
         extra: Sequence[Any] = ()) -> tuple[Any, int]:
    """Hand the run to `algorithm` from `checkpoint` (step `done_steps`) to `cfg.steps`; the model and
    the steps done. `env` is the env, or the `Mixture` of several (which `data` and `algos` take in
    its place)."""
    is_main, world = state.is_main_process, state.num_processes
    model, tokenizer = policy.model, policy.tokenizer
    if cfg.beta > 0 and algorithm.kl_reference and not cfg.lora:
        # TRL builds the KL reference model from config._name_or_path; a model built in memory
        # (tiny) has none, so its starting weights are saved once into the run directory.
        source = Path(str(getattr(model.config, "_name_or_path", "") or ""))
        if not (source / "config.json").is_file():
            reference = run.path / "reference"
            if is_main and not (reference / "config.json").is_file():
                run.save_model(reference, model, tokenizer)
            state.wait_for_everyone()
            model.config._name_or_path = str(reference)

    eval_every = cfg.eval_every if cfg.eval_tasks else 0  # --eval-tasks 0: nothing to evaluate mid-run
    callbacks = make_callbacks(run, is_main=is_main, eval_every=eval_every, evaluate_now=evaluate_now,
                               say=say, world_size=world)
    guard = None
    mixture = env if isinstance(env, Mixture) else None
    if mixture is None and algorithm.guarded and has_learned_reward(env):
        # A learned reward (the rlhf env keeps its gold labeler at weight 0): guard against reward hacking.
        from llmgym.rlhf.guard import guard_for_env

        guard = guard_for_env(env, run.path, policy, config=cfg.guard,
                              kl_logged_by_trainer=cfg.beta > 0 and algorithm.kl_reference,
                              max_tokens=cfg.max_completion_length, seed=cfg.seed, is_main=is_main)
        callbacks.append(guard)
    if mixture is None:
        on_scores = sample_logger(run, is_main=is_main, every=cfg.samples_every)
    else:
        loggers = {s.label: sample_logger(run, is_main=is_main, every=cfg.samples_every, env=s.label)
                   for s in mixture}

        def on_scores(*args: Any, env: str, **kw: Any) -> None:  # called once per env of the batch
            loggers[env](*args, **kw)
    ctx = RunContext(config=cfg, env=env, policy=policy, run=run, callbacks=callbacks, evaluate=evaluate_now,
                     say=say, rank=state.process_index, world_size=world, checkpoint=checkpoint,
                     done_steps=done_steps, on_scores=on_scores, guard=guard)
    from transformers import TrainerCallback

    for item in extra:  # the caller's: a callback, or a function of the context that builds one
        callbacks.append(item if isinstance(item, TrainerCallback) or not callable(item) else item(ctx))
    result = algorithm.fit(ctx)
    return result.model, result.steps


def frozen_base_dtype(cfg: TrainConfig, model: Any) -> str:
    """The dtype the frozen weights of a LoRA run are kept in (`--base-dtype`): `auto` is bf16 on a CPU
    where `fast_cpu_dtype` measures it faster than fp32, else the model's own; without LoRA, the model's.

    bf16 halves the bytes of weights that are only read; where this CPU emulates bf16 (no native
    instructions) it would slow every step several times, so fp32 stays there.
    """
    own = str(model.dtype).removeprefix("torch.")
    if not cfg.lora:
        return own
    if cfg.base_dtype != "auto":
        return cfg.base_dtype
    if model.device.type != "cpu" or own != "float32":
        return own
    from llmgym.cpu_dtype import fast_cpu_dtype

    return fast_cpu_dtype()


def _load_checkpoint(path: str, model: Any) -> Any:
    """The model a checkpoint folder holds: its own weights, or a LoRA adapter over `model`."""
    if (Path(path) / "adapter_config.json").is_file():
        from peft import PeftModel

        return PeftModel.from_pretrained(model, path)
    from transformers import AutoModelForCausalLM

    # The dtype and device of the model being trained, as the trainer would have left them.
    return AutoModelForCausalLM.from_pretrained(path, dtype=model.dtype).to(model.device)


def _logged_eval(run: RunDir, step: int) -> dict[str, float] | None:
    """The figures of the last held-out evaluation logged at `step`, if any."""
    return next((_figures(r) for r in reversed(run.rows()) if r.get("step") == step and "eval/accuracy" in r), None)


def _remove_leftovers(run: RunDir, say: Any) -> None:
    for left in run.clean_leftovers():
        say(f"removed {left.relative_to(run.path)} (left by a write that was killed)")


def _figures(row: dict[str, Any]) -> dict[str, float]:
    return {k.split("/", 1)[1]: v for k, v in row.items() if k.startswith("eval/")}


def _per_env_accuracy(mixture: Mixture, figures: dict[str, Any]) -> str:
    if len(mixture) == 1:
        return ""
    return " (" + ", ".join(f"{label} {figures.get(f'{label}/accuracy', math.nan):.1%}" for label in mixture.labels) + ")"


def _print_summary(console: Any, s: dict[str, Any]) -> None:
    from rich.table import Table

    env = s["env"] if isinstance(s["env"], str) else " + ".join(s["env"])
    table = Table(title=f"{s['algo']} on {env} with {s['policy']}: {s['steps']} steps in "
                        f"{s['wall_seconds']:.0f} s", title_justify="left")
    for col in ("held-out", "before", "after"):
        table.add_column(col, justify="right" if col != "held-out" else "left")
    b, a = s["before"] or {}, s["after"]
    table.add_row("accuracy", f"{b.get('accuracy', math.nan):.1%}", f"{a['accuracy']:.1%}")
    if "accuracy_lo" in a:
        table.add_row("  95% interval", _interval(b), _interval(a))
    if "format" in a:
        table.add_row("format (answers in the prompt's format)", f"{b.get('format', math.nan):.1%}",
                      f"{a['format']:.1%}")
    table.add_row("mean reward", f"{b.get('reward', math.nan):.3f}", f"{a['reward']:.3f}")
    table.add_row("mean length (tokens)", f"{b.get('length', math.nan):.1f}", f"{a['length']:.1f}")
    for share in s.get("mixture") or []:
        label = share["env"]
        table.add_row(f"accuracy on {label} ({share['fraction']:.0%} of prompts)",
                      f"{b.get(f'{label}/accuracy', math.nan):.1%}", f"{a.get(f'{label}/accuracy', math.nan):.1%}")
    console.print(table)
    console.print(f"accuracy {b.get('accuracy', math.nan):.1%}{_interval(b, ' ')} -> {a['accuracy']:.1%}"
                  f"{_interval(a, ' ')}; run directory: {s['run']}")


def _interval(f: dict[str, Any], before: str = "") -> str:
    if "accuracy_lo" not in f:
        return ""
    return f"{before}[{f['accuracy_lo']:.1%}, {f['accuracy_hi']:.1%}]"
