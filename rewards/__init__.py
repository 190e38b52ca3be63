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
