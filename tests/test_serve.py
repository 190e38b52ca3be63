"""`llmgym serve --env math --env code` over 127.0.0.1, driven by real clients: httpx for the llmgym API,
aiohttp posting what OpenRLHF posts, and openenv-core's own client, a GRPO group of 8 sessions included.
Hostile requests are 4xx with a one-line reason and leave the server serving."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from serve_process import TOKEN, ServeProcess

import llmgym
from llmgym.cli import main
from llmgym.rubric import FunctionReward, Rubric
from llmgym.serve.protocol import ServeError
from llmgym.serve.scoring import Scorer
from llmgym.serve.sessions import SessionStore
from llmgym.types import Score, Task

MAX_BATCH = 64
MAX_SESSIONS = 10


@pytest.fixture(scope="module")
def server():
    s = ServeProcess("--env", "math", "--env", "code", "--env", "tools=counting:tools=['python']",
                     "--max-batch", str(MAX_BATCH), "--max-sessions", str(MAX_SESSIONS))
    yield s
    s.kill()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as c:
        yield c


def draw(client, env="math", **body):
    r = client.post("/v1/tasks", json={"env": env, **body})
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


def boxed(task):
    return f"So the answer is \\boxed{{{task['answer']}}}."


def test_lists_served_envs_with_versions_and_reward_components(client):
    envs = {e["name"]: e for e in client.get("/v1/envs").json()["envs"]}
    assert list(envs) == ["math", "code", "tools"]
    assert envs["math"]["version"] == llmgym.make("math").version and envs["math"]["source"] == "llm-gym"
    assert envs["math"]["components"] == {"correct": 1.0, "format": 0.1, "length": 0.0}
    assert envs["math"]["levels"] == [1, 2, 3, 4, 5] and not envs["math"]["multi_turn"]
    assert envs["tools"]["multi_turn"] and envs["tools"]["tools"][0]["function"]["name"] == "python"


def test_task_draws_are_deterministic_per_split_seed_and_level(client):
    first = draw(client, n=5, seed=7)
    assert [t["id"] for t in draw(client, n=5, seed=7)] == [t["id"] for t in first]
    assert [t["id"] for t in first] == [t.id for t in llmgym.make("math").tasks("train", n=5, seed=7)]
    held_out = {t["id"] for t in draw(client, n=20, split="eval")}
    assert held_out.isdisjoint(t["id"] for t in draw(client, n=20, split="train"))
    assert {t["meta"]["level"] for t in draw(client, n=4, level=3)} == {3}
    assert first[0]["messages"][-1] == {"role": "user", "content": first[0]["prompt"]}


def test_scores_by_task_json_or_id_with_every_component_and_the_in_process_values(client):
    tasks = draw(client, n=4, seed=1)
    completions = [boxed(tasks[0]), "I think it is 12345.", boxed(tasks[2]), "no idea"]
    items = [{"completion": completions[0], "task": tasks[0]}, {"completion": completions[1], "task_id": tasks[1]["id"]},
             {"completion": completions[2], "task_id": tasks[2]["id"]}, {"completion": completions[3], "task": tasks[3]}]
    body = client.post("/v1/score", json={"env": "math", "items": items}).json()
    results = body["results"]
    assert [r["task_id"] for r in results] == [t["id"] for t in tasks]
    assert results[0]["reward"] == pytest.approx(1.1) and results[0]["components"]["correct"] == 1.0
    assert results[1]["reason"] == "wrong" and results[1]["answer"] == "12345"
    expected = llmgym.make("math").rubric.score_batch(completions, [Task.from_dict(t) for t in tasks])
    assert [(r["reward"], r["components"], r["reason"]) for r in results] == \
        [(s.value, dict(s.components), s.reason) for s in expected]
    again = client.post("/v1/score", json={"env": "math", "items": items}).json()
    assert again == body  # stateless and idempotent: the same request, the same answer


def test_code_is_scored_by_hidden_tests_in_the_servers_sandbox(client):
    (task,) = draw(client, env="code", n=1, seed=3)
    wrong = f"```python\ndef {task['answer']['entry_point']}(*args):\n    return None\n```"
    items = [{"completion": task["meta"]["solution"], "task": task}, {"completion": wrong, "task": task},
             {"completion": "no code here", "task": task}]
    results = client.post("/v1/score", json={"env": "code", "items": items}).json()["results"]
    assert results[0]["reward"] == 1.0 and results[0]["components"]["tests/all_passed"] == 1.0
    assert results[1]["reward"] < 0.5 and results[1]["reason"] is not None
    assert results[2]["reason"] == "no_code"


def test_openrlhf_reward_request_as_openrlhf_posts_it(server, client):
    import aiohttp

    tasks = draw(client, n=3, seed=2)
    prompts = [f"<|im_start|>user\n{t['prompt']}<|im_end|>\n<|im_start|>assistant\n" for t in tasks]
    responses = [boxed(tasks[0]), "it is 99999", boxed(tasks[2])]
    payload = {"query": [p + r + "<|im_end|>" for p, r in zip(prompts, responses)], "prompts": prompts,
               "labels": [json.dumps({"env": "math", "task": t}) for t in tasks]}
    # OpenRLHF's aiohttp session sends no headers of its own: the token rides in the URL.
    url = server.url.replace("http://", f"http://openrlhf:{TOKEN}@") + "/get_reward"

    async def post():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.post(url, json=payload) as response:
                response.raise_for_status()
                return await response.json()

    answer = asyncio.run(post())
    assert answer["rewards"] == pytest.approx([1.1, 0.0, 1.1]) and answer["scores"] == answer["rewards"]
    # With several --reward.remote_url servers OpenRLHF splits one query into slices, most of them empty.
    payload = {"query": [], "prompts": [], "labels": []}
    assert asyncio.run(post()) == {"rewards": [], "scores": [], "extra_logs": {}}
    assert answer["extra_logs"]["correct"] == [1.0, 0.0, 1.0] and set(answer["extra_logs"]) >= {"format", "length"}


def openenv_client(server, env):
    from openenv.core import GenericEnvClient

    # websockets turns the URL's credentials into an Authorization header; the client sets none itself.
    return GenericEnvClient(base_url=server.url.replace("http://", f"http://openenv:{TOKEN}@") + f"/openenv/{env}",
                            message_timeout_s=60)


def test_openenv_client_plays_an_episode(server):
    async def play():
        async with openenv_client(server, "math") as env:
            first = await env.reset(seed=5)
            answer = first.observation["task"]["answer"]
            last = await env.step({"text": f"\\boxed{{{answer}}}"})
            state = await env.state()
            return first, last, state

    first, last, state = asyncio.run(play())
    assert not first.done and first.reward is None and "\\boxed{}" in first.observation["text"]
    assert last.done and last.reward == pytest.approx(1.1)
    assert last.observation["info"]["reward_components"]["correct"] == 1.0
    assert state["step_count"] == 1 and state["task_id"] == first.observation["task_id"]
    with httpx.Client(base_url=server.url, headers=server.headers) as c:
        assert c.get("/openenv/math/schema").json()["action"]["required"] == ["text"]


def test_openenv_connections_without_the_token_are_refused(server):
    from openenv.core import GenericEnvClient

    async def connect():
        async with GenericEnvClient(base_url=server.url.replace("http://", "http://openenv:wrong@") + "/openenv/math"):
            pass

    with pytest.raises(ConnectionError, match="403"):
        asyncio.run(connect())


def test_grpo_group_of_eight_concurrent_openenv_sessions_for_one_prompt(server, client):
    (task,) = draw(client, n=1, seed=11)
    completions = [boxed(task) if k % 2 == 0 else f"maybe {k}" for k in range(8)]

    async def one(completion):
        async with openenv_client(server, "math") as env:
            start = await env.reset(task=task)
            result = await env.step({"text": completion})
            return start.observation["task_id"], result.reward

    async def group():
        return await asyncio.gather(*(one(c) for c in completions))

    results = asyncio.run(group())
    assert {task_id for task_id, _ in results} == {task["id"]}
    assert [reward for _, reward in results] == pytest.approx([1.1, 0.0] * 4)


def test_tool_env_session_runs_the_python_tool_remotely(client):
    opened = client.post("/v1/sessions", json={"env": "tools", "seed": 3}).json()
    assert opened["tools"][0]["function"]["name"] == "python" and opened["messages"][0]["role"] == "system"
    call = '<tool_call>{"name": "python", "arguments": {"code": "print(6 * 7)"}}</tool_call>'
    step = client.post(f"/v1/sessions/{opened['session_id']}/step", json={"action": call}).json()
    assert "42" in step["observation"] and not step["terminated"] and step["info"]["tool_calls"] == 1
    answer = opened["task"]["answer"]
    final = client.post(f"/v1/sessions/{opened['session_id']}/step", json={"action": f"\\boxed{{{answer}}}"}).json()
    assert final["terminated"] and final["reward"] >= 1.0 and final["info"]["reason"] is None
    late = client.post(f"/v1/sessions/{opened['session_id']}/step", json={"action": "again"})
    assert late.status_code == 404 and "no live session" in late.json()["error"]


def test_sessions_past_the_cap_are_refused_until_one_closes(client):
    ids = [client.post("/v1/sessions", json={"env": "math"}).json()["session_id"] for _ in range(MAX_SESSIONS)]
    refused = client.post("/v1/sessions", json={"env": "math"})
    assert refused.status_code == 429 and "--max-sessions" in refused.json()["error"]
    assert client.delete(f"/v1/sessions/{ids.pop()}").json() == {"closed": True}
    ids.append(client.post("/v1/sessions", json={"env": "math"}).json()["session_id"])
    for sid in ids:
        client.delete(f"/v1/sessions/{sid}")


def chunks(n):
    for _ in range(n):
        yield b"x" * (1 << 20)


HOSTILE = [
    ("huge body", dict(content=b"[" + b"1," * (5 << 20) + b"1]"), 413, "over the cap"),
    ("huge chunked body", dict(content=chunks(9)), 413, "over the cap"),
    ("deep JSON", dict(content=b'{"env": "math", "items": ' + b"[" * 5000 + b"]" * 5000 + b"}"), 400, "nested deeper"),
    ("not JSON", dict(content=b"{env: math"), 400, "not valid JSON"),
    ("not an object", dict(json=[1, 2]), 422, "must be a JSON object"),
    ("wrong type", dict(json={"env": "math", "items": [{"completion": 7, "task_id": "x"}]}), 422,
     "items[0].completion must be a string"),
    ("env as a number", dict(json={"env": 3, "items": []}), 422, "body.env must be a string"),
    ("unknown env", dict(json={"env": "chess", "items": []}), 404, "unknown env 'chess'; served: math, code, tools"),
    ("too big a batch", dict(json={"env": "math", "items": [{"completion": "1", "task_id": "x"}] * (MAX_BATCH + 1)}),
     413, f"the cap is {MAX_BATCH}"),
    ("unknown task id", dict(json={"env": "math", "items": [{"completion": "1", "task_id": "feedface"}]}), 404,
     "unknown task id 'feedface'"),
    ("malformed task", dict(json={"env": "math", "items": [{"completion": "1", "task": {"prompt": [{"role": "x"}]}}]}),
     422, "items[0].task"),
]


@pytest.mark.parametrize("what, request_kw, status, reason", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_requests_are_4xx_with_a_one_line_reason(client, what, request_kw, status, reason):
    response = client.post("/v1/score", **request_kw)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert reason in error and "\n" not in error and "Traceback" not in error
    assert client.get("/v1/health").json()["status"] == "ok"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic !!"}],
                         ids=["no token", "wrong token", "garbled basic"])
def test_requests_without_the_token_are_refused_but_health_is_open(server, headers):
    with httpx.Client(base_url=server.url, headers=headers) as c:
        refused = c.get("/v1/envs")
        assert refused.status_code == 401 and "token" in refused.json()["error"]
        assert c.get("/v1/health").status_code == 200


def test_other_refusals_name_the_fix(client):
    assert client.post("/v1/tasks", json={"env": "math", "level": 9}).json()["error"].startswith(
        "env 'math': level must be one of [1, 2, 3, 4, 5]")
    assert client.post("/v1/tasks", json={"env": "math", "n": MAX_BATCH + 1}).status_code == 413
    assert client.post("/v1/tasks", json={"env": "math", "split": "test"}).status_code == 422
    assert client.post("/v1/sessions/nope/step", json={"action": "x"}).status_code == 404
    assert client.get("/v1/score").status_code == 405
    assert client.post("/get_reward", json={"query": ["a"], "labels": ["x", "y"]}).status_code == 422


def test_binding_another_host_without_a_token_is_one_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("LLMGYM_SERVE_TOKEN", raising=False)
    assert main(["serve", "--env", "math", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmgym: error: --host 0.0.0.0 accepts connections from other machines") and err.count("\n") == 1


# -- the parts, in process -----------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_idle_sessions_expire_after_the_ttl_and_the_cap_counts_live_ones():
    clock = FakeClock()
    store = SessionStore(cap=2, ttl=10, clock=clock)
    env = llmgym.make("math")

    async def scenario():
        a, _, _ = await store.open("math", env, seed=1, task=None)
        clock.now = 6
        b, _, _ = await store.open("math", env, seed=2, task=None)
        with pytest.raises(ServeError, match="2 sessions are live"):
            await store.open("math", env, seed=3, task=None)
        clock.now = 12  # a idle 12 s (> TTL), b 6 s
        c, _, _ = await store.open("math", env, seed=3, task=None)
        with pytest.raises(ServeError, match="expired"):
            store.get(a.id)
        assert store.get(b.id) is b and store.get(c.id) is c
        await store.step(b, "\\boxed{0}")
        with pytest.raises(ServeError, match="has ended") as ended:
            await store.step(b, "again")
        assert ended.value.status == 409

    asyncio.run(scenario())


def test_concurrent_scoring_requests_share_batches_and_get_their_own_results():
    calls = []

    def score_batch(completions, tasks):
        calls.append(len(completions))
        return [Score(float(c == str(t.answer))) for c, t in zip(completions, tasks)]

    rubric = Rubric([(FunctionReward("exact", lambda c, t: 0.0), 1.0)])
    rubric.score_batch = score_batch
    scorer = Scorer(max_items=64)
    tasks = [Task(f"q{i}", i) for i in range(40)]

    async def scenario():
        requests = [([str(i), "x"], [tasks[i], tasks[i]]) for i in range(20)]
        out = await asyncio.gather(*(scorer.score("e", rubric, c, t) for c, t in requests))
        await scorer.close()
        return out

    out = asyncio.run(scenario())
    assert [[s.value for s in r] for r in out] == [[1.0, 0.0]] * 20
    assert sum(calls) == 40 and len(calls) < 20 and max(calls) <= 64


@pytest.mark.parametrize("module", ["llmgym.serve.protocol", "llmgym.serve.catalog", "llmgym.serve.openrlhf"])
def test_doctests_of_the_serve_modules_pass(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
