"""`rlhf`: tasks whose answers no program can check exactly: jokes, short poems, one-sentence
summaries, slogans. Their reward is a plugin (`reward=`):

- `"gold"` (default): the simulated gold labeler (`llmgym.rewards.rlhf.GoldReward`), a documented,
  deterministic preference that degenerate text cannot satisfy. It needs nothing, so `check_env`
  passes offline, and it is the measure of true quality in over-optimisation experiments.
- `"reward_model:PATH"`: a reward model saved by `llmgym rm train` (the proxy RL optimises).
- `"judge:POLICY"`: an LLM judge (any policy name, e.g. `judge:smollm2` or `judge:openai:...`).

With a learned or judged reward the gold labeler stays in the rubric with weight 0: it moves
nothing, but every training step logs `rewards/gold/mean` next to the proxy, which is how a run
sees the proxy rise while gold falls.

Families (`family=`; "mixed" draws from all):

=========  ============================================  ==================================
family     prompt                                        gold wants
=========  ============================================  ==================================
joke       a short joke about a subject (pelicans, ...)  subject words, a question or a !
poem       a short poem on a theme                       theme words, 2-6 lines
summary    one sentence summarising a generated          the paragraph's key facts, one
           paragraph (person, place, thing, event)       sentence
slogan     a one-line slogan for a product               product words, one line
=========  ============================================  ==================================

`level` (1-3) raises how many topic words gold requires and narrows the length window.
`task.answer` is the gold spec (`keywords`, `need`, `min_words`, `max_words`, `form`);
`meta["solution"]` is a template answer that gold scores 1.0.
"""

from __future__ import annotations

import random
from typing import Any

from llmgym.env import SingleTurnEnv
from llmgym.errors import LLMGymError
from llmgym.rubric import Rubric
from llmgym.types import Task

LEVELS = (1, 2, 3)
NEED = {1: 2, 2: 3, 3: 4}

SUBJECTS: dict[str, tuple[str, ...]] = {
    "pelicans": ("pelican", "beak", "pouch", "fish", "bird", "wings", "beach"),
    "penguins": ("penguin", "ice", "tuxedo", "waddle", "fish", "bird", "snow"),
    "coffee": ("coffee", "cup", "bean", "espresso", "mug", "morning", "caffeine"),
    "cats": ("cat", "kitten", "whisker", "purr", "mouse", "paw", "nap"),
    "robots": ("robot", "circuit", "battery", "metal", "machine", "beep", "program"),
    "mondays": ("monday", "week", "alarm", "office", "morning", "weekend", "boss"),
    "dentists": ("dentist", "tooth", "teeth", "drill", "floss", "smile", "chair"),
    "giraffes": ("giraffe", "neck", "tall", "leaves", "tree", "spots", "savanna"),
    "pirates": ("pirate", "ship", "treasure", "parrot", "sea", "captain", "map"),
    "bakers": ("baker", "bread", "dough", "oven", "flour", "loaf", "cake"),
}
THEMES: dict[str, tuple[str, ...]] = {
    "autumn": ("autumn", "leaves", "gold", "wind", "harvest", "cold", "falling"),
    "the ocean": ("ocean", "wave", "tide", "salt", "shore", "deep", "blue"),
    "a city at night": ("city", "night", "lights", "street", "window", "dark", "neon"),
    "rain": ("rain", "cloud", "drop", "storm", "puddle", "grey", "wet"),
    "friendship": ("friend", "heart", "laugh", "together", "trust", "hand", "years"),
    "mountains": ("mountain", "peak", "snow", "stone", "climb", "sky", "valley"),
    "the moon": ("moon", "night", "silver", "star", "sky", "light", "tide"),
    "gardens": ("garden", "flower", "seed", "soil", "bloom", "green", "bee"),
}
PRODUCTS: dict[str, tuple[str, ...]] = {
    "a bicycle": ("bike", "ride", "wheel", "road", "pedal", "fast"),
    "a tea shop": ("tea", "cup", "leaf", "calm", "brew", "warm"),
    "an umbrella": ("umbrella", "rain", "dry", "storm", "shelter", "open"),
    "running shoes": ("shoe", "run", "step", "fast", "feet", "race"),
    "a library": ("library", "book", "read", "story", "page", "quiet"),
    "a bakery": ("bread", "bakery", "fresh", "oven", "cake", "warm"),
}
PEOPLE = ("Maria", "Tom", "Aisha", "Kenji", "Lena", "Omar", "Priya", "Jonas", "Sofia", "Ben")
PLACES = ("village", "harbor", "library", "school", "market", "museum", "farm", "station")
THINGS = ("garden", "bridge", "festival", "robot", "bakery", "orchestra", "boat", "clock")
EVENTS = ("flood", "storm", "fire", "drought", "strike", "blackout")
AUDIENCES = ("kids", "a coworker", "a teacher", "a grandparent", "a friend", "a wedding crowd")
MOODS = ("gentle", "sad", "hopeful", "playful", "quiet")
OUTCOMES = ("won a prize", "became famous", "saved the town money", "drew many visitors")

JOKE_TEMPLATES = (
    "Why did the {k0} bring a {k1} to the party? Because it wanted to be the life of the {k2} crowd!",
    "What do you call a {k0} with a {k1}? A {k2} with a plan, and that is why everyone laughs!",
    "My {k0} tried to buy a {k1} at the shop, but the clerk said the {k2} was not for sale!",
)
POEM_TEMPLATES = (
    "The {k0} is calling in the quiet air,\nI walk with {k1} and leave my care,\nand every {k2} finds me there.",
    "Under the {k0} we stand and wait,\nthe {k1} is soft, the hour is late,\nand the {k2} opens like a gate.",
)
SUMMARY_TEMPLATE = "{person} built a {thing} in the {place} after the {event}, and it {outcome}."
SLOGAN_TEMPLATES = (
    "Every {k0} and every {k1}, made for {k2} days.",
    "Your {k0}, your {k1}, your best {k2} yet.",
)
FAMILIES = ("joke", "poem", "summary", "slogan")
# Length windows in words, per family and level (wider at level 1).
WINDOWS = {
    "joke": {1: (8, 45), 2: (10, 40), 3: (12, 35)},
    "poem": {1: (10, 60), 2: (12, 50), 3: (15, 45)},
    "summary": {1: (6, 30), 2: (8, 25), 3: (10, 22)},
    "slogan": {1: (4, 16), 2: (4, 14), 3: (5, 12)},
}


def _fill(template: str, keywords: tuple[str, ...]) -> str:
    return template.format(**{f"k{i}": k for i, k in enumerate(keywords)})


def rlhf_task(family: str, level: int, rng: random.Random) -> Task:
    """Draw one task of `family` at `level` from `rng`."""
    need = NEED[level]
    lo, hi = WINDOWS[family][level]
    if family == "joke":
        subject = rng.choice(sorted(SUBJECTS))
        pool = SUBJECTS[subject]
        style = rng.choice(("short", "silly", "clean", "one-liner"))
        audience = rng.choice(AUDIENCES)
        prompt = f"Tell a {style} joke about {subject} for {audience}."
        form, template = "joke", rng.choice(JOKE_TEMPLATES)
        inputs: dict[str, Any] = {"subject": subject, "style": style, "audience": audience}
    elif family == "poem":
        theme = rng.choice(sorted(THEMES))
        pool = THEMES[theme]
        lines, mood = rng.choice((3, 4)), rng.choice(MOODS)
        prompt = f"Write a short {mood} poem of about {lines} lines about {theme}."
        form, template = "poem", rng.choice(POEM_TEMPLATES)
        inputs = {"theme": theme, "lines": lines, "mood": mood}
    elif family == "summary":
        person, place, thing = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(THINGS)
        event, outcome = rng.choice(EVENTS), rng.choice(OUTCOMES)
        year = rng.randint(1950, 2020)
        paragraph = (f"In {year}, a {event} hit the {place} where {person} lived. Many people lost hope, "
                     f"but {person} gathered neighbours and started to build a {thing}. It took two years "
                     f"of work in the {place}. In the end the {thing} {outcome}, and people still talk "
                     f"about how {person} refused to give up after the {event}.")
        pool = (person.lower(), thing, place, event)
        prompt = f"Summarise this paragraph in one sentence.\n\n{paragraph}"
        form = "summary"
        template = SUMMARY_TEMPLATE.format(person=person, thing=thing, place=place, event=event, outcome=outcome)
        inputs = {"person": person, "place": place, "thing": thing, "event": event, "year": year}
    elif family == "slogan":
        product = rng.choice(sorted(PRODUCTS))
        pool = PRODUCTS[product]
        audience = rng.choice(AUDIENCES)
        prompt = f"Write a one-line slogan for {product}, aimed at {audience}."
        form, template = "slogan", rng.choice(SLOGAN_TEMPLATES)
        inputs = {"product": product, "audience": audience}
    else:
        raise LLMGymError(f"rlhf: family must be one of {FAMILIES} or 'mixed', got {family!r}")
    picked = tuple(rng.sample(pool, 3)) if family != "summary" else pool
    solution = _fill(template, picked) if family != "summary" else template
    answer = {"keywords": list(pool), "need": min(need, len(pool)), "min_words": lo, "max_words": hi,
              "form": form}
    if family != "summary":
        # The reference uses three topic words; the gold spec must not ask for more than it shows.
        answer["need"] = min(answer["need"], 3)
    return Task(prompt, answer, {"family": family, "level": level, "solution": solution, **inputs})


class RLHFEnv(SingleTurnEnv):
    """Unverifiable writing tasks scored by a pluggable reward (gold, reward model or judge)."""

    name = "rlhf"
    version = "1"  # bump when a change alters the tasks of a split or how they score
    description = "Jokes, short poems, one-sentence summaries, slogans; reward: gold labeler, reward model or LLM judge."
    levels = LEVELS
    system_prompt = "You are a helpful, witty writer. Answer with the requested text only."
    families = FAMILIES

    def __init__(self, *, family: str = "mixed", reward: str = "gold", level: int = 1, split: str = "train",
                 rubric: Rubric | None = None, render_mode: str | None = None):
        if family != "mixed" and family not in FAMILIES:
            raise LLMGymError(f"rlhf: family must be one of {FAMILIES} or 'mixed', got {family!r}")
        if not isinstance(reward, str) or not reward:
            raise LLMGymError("rlhf: reward must be 'gold', 'reward_model:PATH' or 'judge:POLICY'")
        self.family = family
        self.reward = reward
        super().__init__(level=level, split=split, rubric=rubric, render_mode=render_mode)

    def generate_task(self, rng: random.Random) -> Task:
        family = rng.choice(FAMILIES) if self.family == "mixed" else self.family
        return rlhf_task(family, self.level, rng)

    def default_rubric(self) -> Rubric:
        from llmgym.rewards.rlhf import GoldReward, make_preference_reward

        gold = GoldReward()
        if self.reward == "gold":
            return Rubric([(gold, 1.0)])
        return Rubric([(make_preference_reward(self.reward), 1.0), (gold, 0.0)])

    def reference(self, task: Task) -> str | None:
        # Only the gold labeler promises full marks to the template answer; a learned reward may not.
        return super().reference(task) if self.reward == "gold" else None
