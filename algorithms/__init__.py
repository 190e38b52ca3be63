"""Built-in training algorithms, registered through the same hook as any third-party plugin.

Each is one file over TRL (see `llmgym.train.algorithm` for the contract they implement).
"""

from llmgym.hookspecs import hookimpl


@hookimpl
def llmgym_register_algorithms(register):
    # Registration order is the order `--algo` errors list them in: the default first.
    register("grpo", "llmgym.algorithms.grpo:GRPO",
             description="GRPO (TRL's GRPOTrainer): REINFORCE with a group-mean baseline; the default; runs tool envs.")
    register("rloo", "llmgym.algorithms.rloo:RLOO",
             description="RLOO (TRL's RLOOTrainer): REINFORCE with a leave-one-out baseline.")
    register("bon", "llmgym.algorithms.bon:BestOfN",
             description="Best-of-n rejection sampling: sample n, keep the best-scoring, fine-tune on it (SFT rounds).")
    register("sft", "llmgym.algorithms.sft:SFT",
             description="Supervised fine-tuning on the env's reference solutions (TRL's SFTTrainer).")
    register("pretrain", "llmgym.algorithms.pretrain:Pretrain",
             description="Next-token training on the env's plain-text documents (problems with worked solutions): the first stage from scratch.")
