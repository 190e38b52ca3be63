"""Errors a user can cause. The CLI prints them as one line and exits with status 2; bugs still raise."""


class LLMGymError(Exception):
    """Base class for user-facing errors (bad names, malformed configs or data)."""


class UnknownNameError(LLMGymError, KeyError):
    """A name that no registry holds; the message lists the closest matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class PluginError(LLMGymError):
    """An entry that exists but cannot be built: its plugin failed, or its factory cannot be imported."""


class EnvCheckError(LLMGymError, AssertionError):
    """An environment breaks the contract that `llmgym.check_env` verifies."""
