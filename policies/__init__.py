"""Built-in policies, registered through the same hook as any third-party plugin."""

from llmgym.hookspecs import hookimpl


@hookimpl
def llmgym_register_policies(register):
    pass
