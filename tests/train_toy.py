"""A toy single-digit addition env for the training tests: self-contained, so the trainer's tests
do not depend on how the `math` env words its prompts. `register()` adds it to the default gym as
`toyadd`, which is how subprocess runs (`python -c ...`) reach it by name."""

from __future__ import annotations

from llmgym.env import SingleTurnEnv
from llmgym.parsing import extract_answer
from llmgym.rubric import FunctionReward, Rubric
from llmgym.types import Score, Task


def _correct(completion: str, task: Task) -> Score:
    got = extract_answer(completion).text
    if got is None:
        return Score.zero("no_answer")
    return Score(1.0, answer=got) if got == str(task.answer) else Score.zero("wrong", answer=got)


class ToyAddEnv(SingleTurnEnv):
    name = "toyadd"
    levels = (1,)
    eval_fraction = 0.3

    def generate_task(self, rng):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        return Task(f"{a}+{b}=?", a + b, meta={"solution": f"{a}+{b}={a + b}. \\boxed{{{a + b}}}"})

    def default_rubric(self):
        return Rubric([(FunctionReward("correct", _correct), 1.0)])


class ConstantEnv(ToyAddEnv):
    """Same tasks, but every completion earns 0.5: no completion is better than another."""

    name = "toyconst"

    def default_rubric(self):
        return Rubric([(FunctionReward("constant", lambda c, t: 0.5), 1.0)])


def register() -> None:
    import llmgym

    reg = llmgym.default_gym().registry("envs")
    for cls in ENVS:
        if cls.name not in reg:
            reg.register(cls.name, cls, source="tests")


class EchoEnv(ToyAddEnv):
    """Repeat a two-digit number in \\boxed{}: a task a from-scratch tiny model learns in a minute,
    and whose held-out tasks need only the copying it learned on train tasks."""

    name = "toyecho"

    def generate_task(self, rng):
        n = rng.randint(10, 99)
        return Task(f"echo {n}", n, meta={"solution": f"\\boxed{{{n}}}"})


class DigitEnv(ToyAddEnv):
    """Repeat the digit of `echo D xyz` in \boxed{}: ten answers, thousands of distinct prompts
    (the letters), so train and eval share the skill but never a task."""

    name = "toydigit"

    def generate_task(self, rng):
        d = rng.randint(0, 9)
        noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3))
        return Task(f"echo {d} {noise}", d, meta={"solution": f"\\boxed{{{d}}}"})


class NoisyAddEnv(ToyAddEnv):
    """`a+b=? xyz`: toyadd's hundred sums under 100 x 26^3 prompts (three letters the answer ignores),
    so the eval split shares every sum with train but never a prompt. RL on toyadd itself learns its
    71 train sums and not the 29 held-out ones; here held-out accuracy measures the sums learned."""

    name = "toyaddx"

    def generate_task(self, rng):
        task = super().generate_task(rng)
        noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3))
        return Task(f"{task.prompt} {noise}", task.answer, meta=task.meta)


ENVS = (ToyAddEnv, ConstantEnv, EchoEnv, DigitEnv, NoisyAddEnv)


if __name__ == "__main__":  # `python tests/train_toy.py ARGS`: llmgym train with the toy envs registered
    import sys

    from llmgym.train.command import main

    register()
    sys.exit(main(sys.argv[1:]))
