"""Built-in rewards, registered through the same hook as any third-party plugin."""

from llmgym.hookspecs import hookimpl


@hookimpl
def llmgym_register_rewards(register):
    register("correct", "llmgym.rewards.answer:AnswerReward",
             description="1 when the final answer matches the task's answer (math-verify equivalence), else 0 with a reason.")
    register("format", "llmgym.rewards.answer:FormatReward",
             description="1 when the completion gives exactly one final answer in \\boxed{}.")
    register("length", "llmgym.rewards.answer:LengthReward",
             description="Penalises completions longer than a token budget.")
    register("choice", "llmgym.rewards.choice:ChoiceReward",
             description="1 when the final answer is exactly one letter A-E and the right one; hedges (A or B) score 0.")
    register("tests", "llmgym.rewards.code:TestsReward",
             description="Fraction of hidden unit tests passed plus an all-passed bonus, run in the sandbox.")
    register("gold", "llmgym.rewards.rlhf:GoldReward",
             description="Simulated gold labeler for rlhf tasks: topic words x length x variety x fluency x form.")
    register("reward_model", "llmgym.rewards.rlhf:RewardModelReward",
             description="A reward model saved by `llmgym rm train`: reward_model:path=DIR (batch scoring).")
    register("judge", "llmgym.rewards.rlhf:JudgeReward",
             description="An LLM judge rates completions 1-10 (judge:policy=NAME; prompt overridable; cached).")
