import json

import pytest

from llmgym import Message, SamplingParams, Score, Task
from llmgym.types import Episode, Turn


def test_task_id_is_derived_from_content_and_stable():
    a, b = Task("2+2?", 4), Task("2+2?", 4)
    assert a.id == b.id and len(a.id) == 16
    assert Task("2+2?", 5).id != a.id
    assert Task("2+2?", 4, meta={"level": 3}).id == a.id  # meta does not change what the task is


def test_task_round_trips_through_json_with_chat_prompt():
    task = Task((Message("system", "be brief"), {"role": "user", "content": "hi"}), {"x": [1, 2]}, {"family": "f"})
    again = Task.from_dict(json.loads(json.dumps(task.to_dict())))
    assert again == task and again.id == task.id
    assert task.text == "hi"
    assert task.messages()[0] == {"role": "system", "content": "be brief"}


def test_task_rejects_values_that_cannot_be_written_as_json():
    with pytest.raises(TypeError):
        Task("p", answer=object())
    with pytest.raises(TypeError):
        Task(42)  # type: ignore[arg-type]


def test_plain_prompt_becomes_one_user_message_after_system_prompt():
    assert Task("q").messages("sys") == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}]


def test_message_role_is_checked():
    with pytest.raises(ValueError):
        Message("robot", "hi")


def test_score_coerces_values_to_float():
    s = Score(1, {"a": True})
    assert s.value == 1.0 and isinstance(s.value, float) and s.components == {"a": 1.0}
    assert Score.zero("no_answer", answer="x").reason == "no_answer"


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_p=0), dict(max_tokens=0)])
def test_sampling_params_are_validated(bad):
    with pytest.raises(ValueError):
        SamplingParams(**bad)


def test_episode_serialises():
    ep = Episode(Task("q", 1), (Turn("a", "", 1.0),), Score(1.0))
    data = json.loads(json.dumps(ep.to_dict()))
    assert data["task"]["prompt"] == "q" and ep.reward == 1.0
