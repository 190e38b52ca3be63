"""The notices TRL and transformers print on every run, which no user can act on, are hidden while
llmgym trains; every other warning still shows."""

import warnings

from llmgym.train.algos import _trl_notices_silenced


def test_the_renamed_checkpointing_notices_are_hidden_and_other_warnings_are_not():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with _trl_notices_silenced():
            for name in ("is_gradient_checkpointing", "gradient_checkpointing_enable", "gradient_checkpointing_disable"):
                warnings.warn(f"`{name}` is deprecated and will be removed in v6.", FutureWarning)
            warnings.warn("`gradient_checkpointing_disable` is deprecated", UserWarning)  # another category
            warnings.warn("`learning_rate` is deprecated", FutureWarning)  # another message
    assert [(w.category, str(w.message)) for w in seen] == [
        (UserWarning, "`gradient_checkpointing_disable` is deprecated"),
        (FutureWarning, "`learning_rate` is deprecated")]
