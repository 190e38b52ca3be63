"""The contracts every piece of llmgym speaks: tasks, scores, completions, episodes, and the
`Reward` and `Policy` protocols.

Everything here is a frozen dataclass of plain values, so tasks and results are JSON-serialisable
and can be hashed, cached and written to `results.jsonl` as they are.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class Message:
    """One chat message. `role` is one of system, user, assistant, tool."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"message content must be str, got {type(self.content).__name__}")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


Prompt = str | tuple[Message, ...]


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_jsonable)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Message):
        return obj.to_dict()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def content_id(prompt: Prompt, answer: Any) -> str:
    """A stable id derived from a task's content: equal prompt and answer give the same id.

    >>> content_id("1+1?", 2) == content_id("1+1?", 2)
    True
    """
    digest = hashlib.sha256(_canonical([prompt, answer]).encode("utf-8")).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Task:
    """One problem instance.

    `prompt` is the user's text or a tuple of chat messages; `answer` is whatever the reward needs
    (a number, an expression, unit tests, a reference); `meta` holds what reports group by
    (family, level) and optional extras such as `solution`, a step-by-step reference answer.
    `id` is derived from prompt and answer when not given, so a task keeps its id across runs.
    """

    prompt: Prompt
    answer: Any = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        prompt = self.prompt
        if isinstance(prompt, list):
            prompt = tuple(prompt)
        if isinstance(prompt, tuple):
            prompt = tuple(m if isinstance(m, Message) else Message(**m) for m in prompt)
        elif not isinstance(prompt, str):
            raise TypeError(f"Task.prompt must be str or chat messages, got {type(prompt).__name__}")
        object.__setattr__(self, "prompt", prompt)
        object.__setattr__(self, "meta", dict(self.meta))
        _canonical([self.answer, self.meta])  # fail at construction, not when a report is written
        if not self.id:
            object.__setattr__(self, "id", content_id(prompt, self.answer))

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def text(self) -> str:
        """The prompt as plain text: the string itself, or the last user message."""
        if isinstance(self.prompt, str):
            return self.prompt
        users = [m.content for m in self.prompt if m.role == "user"]
        return users[-1] if users else ""

    def messages(self, system: str | None = None) -> list[dict[str, str]]:
        """The prompt as chat messages (a plain prompt becomes one user message)."""
        msgs = [{"role": "user", "content": self.prompt}] if isinstance(self.prompt, str) else [
            m.to_dict() for m in self.prompt
        ]
        if system and not any(m["role"] == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": system})
        return msgs

    def to_dict(self) -> dict[str, Any]:
        return json.loads(_canonical({"id": self.id, "prompt": self.prompt, "answer": self.answer, "meta": self.meta}))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Task":
        prompt = data["prompt"]
        if isinstance(prompt, list):
            prompt = tuple(Message(**m) for m in prompt)
        return cls(prompt=prompt, answer=data.get("answer"), meta=data.get("meta", {}), id=data.get("id", ""))


@dataclass(frozen=True)
class Score:
    """A reward's verdict: `value`, the parts it is made of, and why it is not full marks."""

    value: float
    components: Mapping[str, float] = field(default_factory=dict)
    reason: str | None = None
    answer: str | None = None  # the answer the reward parsed out of the completion, if any

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "components", {k: float(v) for k, v in self.components.items()})

    @classmethod
    def zero(cls, reason: str, answer: str | None = None, **components: float) -> "Score":
        return cls(0.0, components, reason, answer)


@dataclass(frozen=True)
class SamplingParams:
    """How a policy samples. `max_tokens` bounds each completion; `seed` makes sampling repeatable."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        object.__setattr__(self, "stop", tuple(self.stop))


@dataclass(frozen=True)
class Completion:
    """One sampled completion with its cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str | None = None


@dataclass(frozen=True)
class Turn:
    """One policy action in an episode and what the environment answered."""

    action: str
    observation: str | None = None
    reward: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Episode:
    """A finished episode: the task, every turn, the final score and the env's last info."""

    task: Task
    turns: tuple[Turn, ...]
    score: Score
    terminated: bool = True
    truncated: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reward(self) -> float:
        return self.score.value

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["task"] = self.task.to_dict()
        return json.loads(_canonical(data))


@runtime_checkable
class Reward(Protocol):
    """Scores completions. Never raises on model output: bad text scores 0 with a reason."""

    name: str

    def score(self, completion: str, task: Task) -> Score: ...

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]: ...


@runtime_checkable
class Policy(Protocol):
    """Writes completions: `n` per prompt, each prompt a list of chat messages."""

    name: str

    def generate(
        self, prompts: Sequence[Sequence[Mapping[str, str]]], n: int = 1, params: SamplingParams | None = None
    ) -> list[list[Completion]]: ...


@runtime_checkable
class TrainablePolicy(Policy, Protocol):
    """A policy the trainer can train: a transformers causal LM (`model`), its `tokenizer`, and
    `with_model(model)`, the same policy sampling from another model (a trained copy, a checkpoint),
    which is how held-out evaluation and best-of-n sample from the model being trained. A registry
    entry says it is one with the metadata `trainable=True`."""

    @property
    def model(self) -> Any: ...

    @property
    def tokenizer(self) -> Any: ...

    def with_model(self, model: Any) -> "TrainablePolicy": ...
