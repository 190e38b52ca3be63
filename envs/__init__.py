"""Built-in environments and the `python` tool, registered through the same hooks as any third-party plugin."""

from llmgym.hookspecs import hookimpl


@hookimpl
def llmgym_register_envs(register):
    register("math", "llmgym.envs.math:MathEnv",
             description="Arithmetic, word problems and sympy algebra with levels 1-5; answers in \\boxed{}.")
    register("counting", "llmgym.envs.counting:CountingEnv",
             description="Letters in words, every k-th letter, spelling backwards, 9.11 vs 9.9, counting items.")
    register("tally", "llmgym.envs.tally:TallyEnv",
             description="Count one letter in a list of letters: directly or letter by letter (solutions=steps|direct|mixed).")
    register("code", "llmgym.envs.code:CodeEnv",
             description="Write a Python function from a description; hidden unit tests run in a sandbox (families: strings, lists, numbers, dicts, humaneval).")
    register("dataset", "llmgym.envs.dataset:DatasetEnv", required_options=("path",),
             description="A user's JSONL/JSON/CSV/Parquet file or datasets folder (path=FILE): columns mapped, answers through the shared verifier.")
    register("compare", "llmgym.envs.compare:CompareEnv",
             description="Which of two numbers is larger: a short prompt for models trained from scratch (tiny).")
    register("rlhf", "llmgym.envs.rlhf:RLHFEnv", description="Jokes, poems, one-sentence summaries, slogans scored by a gold labeler, a reward model (reward=reward_model:PATH) or an LLM judge.")
    from llmgym.envs.rg import register_catalog  # rg/NAME for reasoning-gym: reads a file, imports no reasoning-gym
    register_catalog(register)


@hookimpl
def llmgym_register_tools(register):
    register("python", "llmgym.sandbox.tool:python_tool",
             description="Run Python 3 in the sandbox (standard library, no network) and show what it printed.")
