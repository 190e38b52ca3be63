import itertools

import pytest
from gymnasium.error import ResetNeeded

import llmgym
from llmgym import EnvCheckError, LLMGymError, Task, Tool, ToolEnv, check_env
from llmgym.env import TextSpace, parse_tool_call, ToolCall

from conftest import AddEnv, CapitalsEnv


def test_text_space_admits_any_unicode_and_samples_are_members():
    space = TextSpace(seed=0)
    for text in ["", "數學 ∑ 🤖", "\x00\n\t", "a" * 10_000]:
        assert space.contains(text)
    assert not space.contains(b"bytes") and not space.contains(3)
    assert all(space.contains(space.sample()) for _ in range(50))
    assert not TextSpace(max_length=3).contains("abcd")


def test_single_turn_episode_scores_and_terminates(add_env):
    prompt, info = add_env.reset(seed=3)
    assert prompt == add_env.task.text and info["task_id"] == add_env.task.id
    obs, reward, terminated, truncated, info = add_env.step(f"\\boxed{{{add_env.task.answer}}}")
    assert (reward, terminated, truncated, info["reason"]) == (1.0, True, False, None)
    assert info["answer"] == str(add_env.task.answer) and info["reward_components"]["correct"] == 1.0
    with pytest.raises(ResetNeeded):
        add_env.step("again")


def test_wrong_and_missing_answers_carry_reasons(add_env):
    add_env.reset(seed=0)
    assert add_env.step("\\boxed{-1}")[4]["reason"] == "wrong"
    add_env.reset(seed=0)
    assert add_env.step("no idea")[4]["reason"] == "no_answer"


def test_step_before_reset_raises():
    with pytest.raises(ResetNeeded):
        AddEnv().step("1")


def test_pinned_task_via_options(add_env):
    task = Task("What is 1 + 1?", 2)
    obs, info = add_env.reset(options={"task": task})
    assert obs == task.text and info["task_id"] == task.id
    obs, info = add_env.reset(options={"task": task.to_dict()})
    assert info["task_id"] == task.id


def test_reset_is_deterministic_under_seed(add_env):
    assert add_env.reset(seed=5)[1]["task_id"] == add_env.reset(seed=5)[1]["task_id"]
    assert len({add_env.reset(seed=s)[1]["task_id"] for s in range(20)}) > 5


def test_eval_split_never_overlaps_train_and_is_content_hashed():
    env = AddEnv(level=2)
    train = {t.id for t in env.tasks("train", n=2000, seed=0)}
    evals = {t.id for t in env.tasks("eval", n=2000, seed=1)}
    assert train and evals and not train & evals
    # 400 possible tasks: both splits are exhausted and together cover all of them
    assert len(train) + len(evals) == 400
    assert 0.1 < len(evals) / 400 < 0.3


def test_tasks_are_deterministic_and_distinct():
    env = AddEnv()
    a = [t.id for t in env.tasks("train", n=30, seed=7)]
    assert a == [t.id for t in env.tasks("train", n=30, seed=7)]
    assert len(set(a)) == 30
    assert a != [t.id for t in env.tasks("train", n=30, seed=8)]


def test_finite_task_space_ends_instead_of_hanging():
    assert len(list(AddEnv(level=1).tasks("eval"))) < 100


def test_dataset_env_splits_its_list():
    env = CapitalsEnv()
    train, evals = list(env.tasks("train")), list(env.tasks("eval"))
    assert len(train) + len(evals) == len(CapitalsEnv.DATA)
    assert not {t.id for t in train} & {t.id for t in evals}


def test_bad_constructor_arguments_are_user_errors():
    with pytest.raises(LLMGymError, match="level"):
        AddEnv(level=9)
    with pytest.raises(LLMGymError, match="split"):
        AddEnv(split="test")


def test_render_ansi_shows_task_and_action():
    env = AddEnv(render_mode="ansi")
    env.reset(seed=1)
    env.step("\\boxed{3}")
    assert env.task.text in env.render() and "\\boxed{3}" in env.render()


# -- tool env -------------------------------------------------------------------------------------
def calc_tool() -> Tool:
    def run(args):
        return str(int(args["a"]) + int(args["b"]))
    return Tool("add", "Adds two integers a and b.", run,
                {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}})


def call(a, b, name="add"):
    return f'<tool_call>{{"name": "{name}", "arguments": {{"a": {a}, "b": {b}}}}}</tool_call>'


def test_tool_env_runs_tool_then_scores_final_answer():
    env = ToolEnv(AddEnv(), [calc_tool()], max_turns=3)
    prompt, info = env.reset(seed=2)
    assert "<tool_call>" in info["messages"][0]["content"] and info["tool_calls"] == 0
    a, b = map(int, prompt.removeprefix("What is ").removesuffix("?").split(" + "))
    obs, reward, terminated, truncated, info = env.step(call(a, b))
    assert (obs, reward, terminated, truncated) == (str(a + b), 0.0, False, False)
    assert info["messages"][-1] == {"role": "tool", "content": str(a + b)}
    obs, reward, terminated, truncated, info = env.step(f"\\boxed{{{obs}}}")
    assert (reward, terminated, info["tool_calls"], info["reason"]) == (1.0, True, 1, None)


def test_tool_env_turn_limit_truncates_with_reason():
    env = ToolEnv(AddEnv(), [calc_tool()], max_turns=2)
    env.reset(seed=0)
    assert env.step(call(1, 1))[3] is False
    obs, reward, terminated, truncated, info = env.step(call(1, 1))
    assert (reward, terminated, truncated, info["reason"], info["tool_calls"]) == (0.0, False, True, "turn_limit", 2)


@pytest.mark.parametrize("action, error", [
    (call(1, 2, name="mul"), "unknown tool 'mul'"),
    ("<tool_call>{oops</tool_call>", "invalid JSON"),
    ("<tool_call>{\"name\": \"add\"", "missing </tool_call>"),
    ('<tool_call>{"name": "add", "arguments": {"a": "x", "b": 1}}</tool_call>', "ValueError"),
])
def test_tool_errors_become_observations(action, error):
    env = ToolEnv(AddEnv(), [calc_tool()])
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs.startswith("error:") and error in obs and not terminated


def test_parse_tool_call_accepts_string_arguments():
    assert parse_tool_call('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>') == ToolCall("f", {"a": 1})
    assert isinstance(parse_tool_call('<tool_call>["f"]</tool_call>'), str)


def test_make_with_tool_objects_wraps_in_tool_env(monkeypatch):
    gym = llmgym.Gym(entry_points=[])
    gym.envs.register("add", AddEnv, source="test")
    env = gym.make_env("add", tools=[calc_tool()], max_turns=2)
    assert isinstance(env, ToolEnv) and env.max_turns == 2 and env.base.name == "add"
    with pytest.raises(LLMGymError, match="unknown tool"):
        gym.make_env("add", tools=["no-such-tool"])


# -- checker --------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", [AddEnv(), AddEnv(level=2), CapitalsEnv(),
                                 ToolEnv(AddEnv(), [calc_tool()])], ids=["add1", "add2", "capitals", "add-tools"])
def test_toy_envs_pass_the_checker(env):
    check_env(env)


class Nondeterministic(AddEnv):
    calls = itertools.count()

    def generate_task(self, rng):
        rng.random()
        n = next(self.calls)
        return Task(f"{n}?", n)


class RewardTooHigh(AddEnv):
    def step(self, action):
        obs, r, term, trunc, info = super().step(action)
        return obs, r + 5.0, term, trunc, info


class MissingInfo(AddEnv):
    def step(self, action):
        obs, r, term, trunc, info = super().step(action)
        info.pop("reason")
        return obs, r, term, trunc, info


class WrongReference(AddEnv):
    def reference(self, task):
        return "\\boxed{-7}"


class RaisesOnJunk(AddEnv):
    def step(self, action):
        if "\x00" in action:
            raise ValueError("cannot handle NUL")
        return super().step(action)


@pytest.mark.parametrize("env, message", [
    (Nondeterministic(), "not equivalent|different"),
    (RewardTooHigh(), "outside the rubric's range"),
    (MissingInfo(), "lacks"),
    (WrongReference(), "reference solution"),
    (RaisesOnJunk(), "raised ValueError"),
    (AddEnv(rubric=llmgym.Rubric([(llmgym.FunctionReward("overshoot", lambda c, t: 2.0), 1.0)])),
     "reward 'overshoot' gave 2.0 on input 'reference solution' .* outside its value_range"),
])
def test_checker_catches_broken_envs(env, message):
    with pytest.raises(EnvCheckError, match=message):
        check_env(env)


def test_checker_catches_overlapping_splits():
    class Leaky(AddEnv):
        def split_of(self, task):
            return self.split  # every task in every split

        def tasks(self, split="train", n=None, seed=0):
            return super().tasks("train", n, seed) if split == "eval" else super().tasks(split, n, seed)
    with pytest.raises(EnvCheckError, match="share tasks"):
        check_env(Leaky())
