"""The processes of `bench_learning.py`, one per run, so that each has its own memory peak:

    python benchmarks/learning_runs.py trl DIR/spec.json             the plain TRL baseline
    python benchmarks/learning_runs.py llmgym DIR/spec.json -- FLAGS  `llmgym train FLAGS`
    python benchmarks/learning_runs.py eval DIR/spec.json            snapshots on the held-out set

Both training runs carry the same `budget_clock`; each writes clock.json (step times, tokens, the
snapshots) and the snapshots themselves next to its spec.json. An evaluation writes eval-start.json
(the starting model, once) and the eval.json of each variant its spec lists, then deletes their
snapshots (unless the spec keeps them).
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

STEP_CAP = 100_000  # `llmgym train --steps`: the clock stops every run long before
BOOKKEEPING_OFF = ["--eval-tasks", "0", "--save-every", "0"]  # the benchmark evaluates, outside the budget


def write_json(path: Path, data: Any) -> None:
    from llmgym.io import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def is_adapter(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def budget_clock(spec: dict[str, Any], out: Path, now: Callable[[], float] = time.perf_counter) -> Any:
    """A TrainerCallback that times the optimizer steps, saves the weights at the checkpoint times
    (outside the steps, so outside the clock) and stops the trainer once `spec["budget_s"]` is spent."""
    from safetensors.torch import save_model
    from transformers import TrainerCallback

    budget, n = float(spec["budget_s"]), int(spec["checkpoints"])
    due = [budget * (i + 1) / n for i in range(n)]

    class BudgetClock(TrainerCallback):
        def __init__(self) -> None:
            self.elapsed, self.steps, self.snapshots, self.tokens = 0.0, [], [], None
            self.started = now()

        def on_step_begin(self, args, state, control, **kw):
            self.started = now()

        def on_step_end(self, args, state, control, model=None, **kw):
            seconds = now() - self.started
            self.elapsed += seconds
            self.steps.append(seconds)
            if due and self.elapsed >= due[0]:
                while due and self.elapsed >= due[0]:
                    due.pop(0)
                model = getattr(model, "module", model)  # unwrapped from DDP, if it is
                name = f"snapshot-{len(self.snapshots) + 1}"
                if is_adapter(model):  # a LoRA run: the adapter, merged into the start weights at eval
                    model.save_pretrained(str(out / name))
                else:
                    name += ".safetensors"
                    save_model(model, str(out / name))  # tied tensors once
                self.snapshots.append({"t": self.elapsed, "step": state.global_step, "file": name})
                self.save()
            if self.elapsed >= budget:
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "num_tokens" in logs:
                self.tokens = {"step": state.global_step, "num_tokens": float(logs["num_tokens"])}

        def save(self) -> None:
            write_json(out / "clock.json", {"budget_s": budget, "train_seconds": self.elapsed,
                                            "step_seconds": self.steps, "snapshots": self.snapshots,
                                            "tokens": self.tokens})

        def on_train_end(self, args, state, control, **kw):
            self.save()

    return BudgetClock()


def run_trl(spec: dict[str, Any], out: Path) -> None:
    """The baseline, as a TRL user writes it: the env's tasks as prompts, its rubric as the reward,
    the learning rate, batch, group size, completion length and temperature llmgym's defaults use for
    full-weight training of this policy, every other GRPOConfig field TRL's default."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    import llmgym
    from llmgym.train.config import TrainConfig
    from llmgym.train.run import load_policy
    from llmgym.types import Task

    env = llmgym.make(spec["env"])
    policy = load_policy(spec["policy"], spec["seed"])  # the same starting weights every variant loads
    n_params = sum(p.numel() for p in policy.model.parameters())
    # run.py's size rule; lora=False: the baseline trains every weight, so it takes the full-weight rate.
    cfg = TrainConfig(env=spec["env"], policy=spec["policy"], seed=spec["seed"], lora=False).resolved(
        is_tiny=n_params < 10_000_000)
    rows = [{"prompt": t.messages(env.system_prompt), "task": json.dumps(t.to_dict())}
            for t in env.tasks("train", n=cfg.train_tasks, seed=cfg.seed)]

    def rubric(prompts, completions, task, **_):
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        return [s.value for s in env.rubric.score_batch(texts, [Task.from_dict(json.loads(t)) for t in task])]

    args = GRPOConfig(output_dir=str(out / "trainer"), report_to="none", logging_steps=1, disable_tqdm=True,
                      learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
                      num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
                      temperature=cfg.temperature, seed=cfg.seed,
                      # TRL's bf16 default needs a GPU or a bf16 CPU; on CPU a user must turn it off.
                      use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available())
    shown = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_generations",
             "max_completion_length", "temperature", "beta", "loss_type", "scale_rewards", "lr_scheduler_type",
             "gradient_checkpointing", "bf16", "seed")
    write_json(out / "settings.json", {k: getattr(args, k) for k in shown if hasattr(args, k)})
    trainer = GRPOTrainer(model=policy.model, reward_funcs=rubric, args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=policy.tokenizer, callbacks=[budget_clock(spec, out)])
    trainer.train()


def run_llmgym(spec: dict[str, Any], out: Path, flags: list[str]) -> None:
    """`llmgym train FLAGS` through the command's own parser and checks (`llmgym.train.command.run`),
    with the clock added through `train(callbacks=...)`."""
    from llmgym.cli import OneLineParser
    from llmgym.errors import LLMGymError
    from llmgym.train.command import add_arguments, check_before_work, config_from_args
    from llmgym.train.run import train
    from llmgym.train.trl_options import checked

    parser = OneLineParser(prog="llmgym train")
    add_arguments(parser)
    args = parser.parse_args(["--env", spec["env"], "--policy", spec["policy"], "--seed", str(spec["seed"]),
                              "--steps", str(STEP_CAP), "--out", str(out / "run"), *BOOKKEEPING_OFF, *flags])
    try:
        cfg, resume = config_from_args(args)
        check_before_work(cfg, resume)
        train(checked(cfg), callbacks=[budget_clock(spec, out)])
    except LLMGymError as exc:
        sys.exit(f"llmgym: error: {exc}")


def held_out(env: Any, policy: Any, tasks: list, spec: dict[str, Any]) -> dict[str, Any]:
    """Sampled pass@1 and its 95% interval, through training's own held-out evaluation where it samples
    (`llmgym.train.callbacks.evaluate(samples=...)`), else rollout with a Wilson interval over tasks."""
    from llmgym.train import callbacks

    n, t, length, seed = spec["eval_samples"], spec["eval_temperature"], spec["eval_max_tokens"], spec["seed"]
    if "samples" in inspect.signature(callbacks.evaluate).parameters:
        f = callbacks.evaluate(env, policy, tasks, length, samples=n, temperature=t, seed=seed)
        return {"accuracy": f["accuracy"], "low": f["accuracy_lo"], "high": f["accuracy_hi"],
                "interval": "clustered Wilson (llmgym.train.callbacks.clustered_wilson)", "answers": f["n"]}
    from llmgym.report.metrics import wilson_interval
    from llmgym.rollout import rollout
    from llmgym.rubric import SUCCESS, component_with_role
    from llmgym.types import SamplingParams

    success = component_with_role(env.rubric, SUCCESS)
    episodes = rollout(env, policy, tasks, n=n, params=SamplingParams(temperature=t, max_tokens=length, seed=seed))
    right = sum(e.score.components.get(success, 0.0) >= 1.0 for e in episodes)
    acc = right / len(episodes)
    low, high = wilson_interval(acc * len(tasks), len(tasks))
    return {"accuracy": acc, "low": low, "high": high, "interval": "Wilson over tasks (llmgym.report.metrics)",
            "answers": len(episodes)}


def run_eval(spec: dict[str, Any], out: Path) -> None:
    """Held-out pass@1 of the starting model and of every snapshot, on the same tasks and samples."""
    import shutil

    from safetensors.torch import load_model

    import llmgym
    from llmgym.train.run import load_policy

    env = llmgym.make(spec["env"])
    tasks = list(env.tasks("eval", n=spec["eval_tasks"], seed=spec["seed"]))
    policy = load_policy(spec["policy"], spec["seed"])
    start = {k: v.clone() for k, v in policy.model.state_dict().items()}
    if not (out / "eval-start.json").is_file():  # evaluated once, by the first evaluation of the benchmark
        write_json(out / "eval-start.json", {"t": 0.0, "step": 0, "tasks": len(tasks),
                                             **held_out(env, policy, tasks, spec)})
    for key in spec["variants"]:
        clock = json.loads((out / key / "clock.json").read_text())
        points = []
        for snap in clock["snapshots"]:
            path = out / key / snap["file"]
            if path.is_dir():  # a LoRA adapter over the start weights
                from peft import PeftModel

                policy.model.load_state_dict(start)
                model = PeftModel.from_pretrained(policy.model, str(path)).merge_and_unload()
            else:
                model = policy.model
                load_model(model, str(path))
            points.append({"t": snap["t"], "step": snap["step"], **held_out(env, policy.with_model(model), tasks, spec)})
            if not spec["keep_snapshots"]:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        write_json(out / key / "eval.json", {"points": points})


if __name__ == "__main__":
    kind, spec_file, *rest = sys.argv[1:]
    spec = json.loads(Path(spec_file).read_text())
    folder = Path(spec_file).parent
    if kind == "llmgym":
        run_llmgym(spec, folder, rest[1:] if rest[:1] == ["--"] else rest)
    else:
        {"trl": run_trl, "eval": run_eval}[kind](spec, folder)
