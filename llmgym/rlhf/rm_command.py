"""`llmgym rm`: reward models from rankings.

    llmgym rm simulate --env rlhf --prompts 300 --k 5 --out rankings.jsonl   # gold-ranked samples
    llmgym rm train --data rankings.jsonl --base tiny --out rm/               # TRL RewardTrainer
    llmgym rm check --data rankings.jsonl                                     # validate a file

The saved folder is what the `reward_model` reward loads: `--env rlhf:reward=reward_model:rm/`.
Options and `--out` are checked before any model loads or any file is written.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Mapping

from llmgym.errors import LLMGymError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rm_command", metavar="ACTION")
    from llmgym.options import add_arguments as add_option_flags

    from .reward_model import RMConfig

    p = sub.add_parser("train", help="fit a reward model to rankings (Bradley-Terry over implied pairs)")
    add_option_flags(p, RMConfig, flags={"learning_rate": "--lr"}, metavars={"learning_rate": "LR"})
    p = sub.add_parser("simulate", help="rank samples with the simulated gold labeler")
    p.add_argument("--env", default="rlhf", help="env NAME[:k=v,...] whose train prompts are ranked")
    p.add_argument("--prompts", type=int, default=200, help="prompts to rank")
    p.add_argument("--k", type=int, default=5, help="samples per prompt")
    p.add_argument("--policy", default=None, help="policy to sample from (default: the simulated writer)")
    p.add_argument("--noise", type=float, default=0.0, help="Gumbel noise on gold scores (a noisier labeler)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="rankings JSONL file to append to")
    p = sub.add_parser("check", help="validate a rankings file and count its pairs")
    p.add_argument("--data", required=True)


def check_rankings_out(path: Path) -> None:
    """Refuse to append rankings to a file that holds something else (a model, a results file): a
    non-empty file in which no line is a rankings record. A bad line among good ones is kept (a torn
    line after a crash is the usual case) and skipped on read; a row nested too deep is refused."""
    from . import rankings as rk

    if path.is_file() and path.read_bytes().strip() and not rk.read(path):
        raise LLMGymError(f"--out {path} holds no rankings record, so it is not a rankings file; name another --out")


def check_rm_out(path: Path) -> None:
    """Refuse an `rm train --out` folder that holds files but no reward model: the model is saved by
    renaming a finished folder into its place (`llmgym.io.save_model_dir`), which replaces it whole."""
    from .reward_model import META_FILE

    if path.is_dir() and any(path.iterdir()) and not (path / META_FILE).is_file():
        raise LLMGymError(f"--out {path} holds files but no reward model, and the saved model replaces the folder "
                          "whole; name a new or empty folder")


def env_gold(env: Any) -> Any:
    """The env's own gold labeler (its rubric's entry with role `oracle`), else the registered `gold`."""
    import llmgym
    from llmgym.rubric import ORACLE, Rubric

    oracle = env.rubric.entry_with_role(ORACLE) if isinstance(env.rubric, Rubric) else None
    return oracle[0] if oracle else llmgym.make_reward("gold")


def run(args: argparse.Namespace) -> int:
    from llmgym.io import check_out_dir, check_out_file

    from . import rankings as rk

    if args.rm_command == "train":
        import llmgym
        from llmgym.options import from_args
        from llmgym.train.command import check_policy_name

        from .reward_model import RMConfig, train_reward_model

        for flag, value in (("--steps", args.steps), ("--batch-size", args.batch_size),
                            ("--max-length", args.max_length)):
            if value < 1:
                raise LLMGymError(f"{flag} must be a positive integer, got {value}")
        if args.learning_rate is not None and not (args.learning_rate > 0 and math.isfinite(args.learning_rate)):
            raise LLMGymError(f"--lr must be a finite number > 0, got {args.learning_rate}")
        if not 0 < args.eval_fraction < 1:
            raise LLMGymError(f"--eval-fraction must be in (0, 1), got {args.eval_fraction}")
        check_rm_out(check_out_dir(args.out))
        check_policy_name(args.base)
        rk.read(args.data, strict=True)  # a bad line fails now, not after torch and TRL are imported
        metrics = train_reward_model(from_args(RMConfig, args), gold=llmgym.make_reward("gold"))
        print(json.dumps(metrics, indent=2))
        print(f"held-out pairwise accuracy {metrics['heldout_accuracy']:.1%}"
              + (f", against gold {metrics['heldout_gold_accuracy']:.1%}" if "heldout_gold_accuracy" in metrics else "")
              + f"; saved to {args.out} (use --env rlhf:reward=reward_model:{args.out})")
        return 0
    if args.rm_command == "simulate":
        import llmgym

        from .simulate import simulate_rankings

        if args.prompts < 1:
            raise LLMGymError(f"--prompts must be a positive integer, got {args.prompts}")
        if args.k < 2:
            raise LLMGymError(f"--k must be at least 2 (a ranking orders samples), got {args.k}")
        if not (args.noise >= 0 and math.isfinite(args.noise)):
            raise LLMGymError(f"--noise must be a finite number >= 0 (0: the exact gold labeler), got {args.noise}")
        check_rankings_out(check_out_file(args.out))

        env = llmgym.make(args.env)
        first = next(iter(env.tasks("train", n=1, seed=args.seed)), None)
        if first is None or not isinstance(first.answer, Mapping):
            raise LLMGymError(f"--env {args.env}: the simulated gold labeler ranks tasks that carry a gold spec "
                              "(the rlhf env's), and this env's carry none; use --env rlhf[:k=v,...]")
        policy = llmgym.make_policy(args.policy) if args.policy else None
        records = simulate_rankings(env, args.prompts, args.k, seed=args.seed, policy=policy, noise=args.noise,
                                    gold=env_gold(env))
        rk.append(args.out, records)
        print(f"appended {len(records)} rankings to {args.out}")
        return 0
    if args.rm_command == "check":
        records = rk.read(args.data, strict=True)
        ranked = [r for r in records if r.get("ranking") is not None]
        n_pairs = sum(len(rk.pairs(r["ranking"])) for r in ranked)
        ties = sum(rk.tied_pairs(r["ranking"]) for r in ranked)
        print(f"{args.data}: {len(records)} records ({len(records) - len(ranked)} skipped), "
              f"{n_pairs} pairs, {ties} tied pairs")
        return 0
    raise LLMGymError("rm needs an ACTION: train, simulate or check (see llmgym rm --help)")
