"""Sandboxed execution of model-written Python: a pool of bubblewrap sandboxes with fork servers.

    >>> from llmgym.sandbox import run, Limits
    >>> result = run("print(sum(range(10)))", limits=Limits(wall_seconds=5))   # doctest: +SKIP
    >>> result.status, result.stdout                                           # doctest: +SKIP
    ('ok', '45\\n')

See `pool.py` for the isolation it gives and why it is built as a pool.
"""

from .limits import STATUSES, Limits, Program, Result
from .pool import UNSAFE_ENV, SandboxPool, default_pool, run, run_batch, unsafe_mode

__all__ = ["STATUSES", "Limits", "Program", "Result", "SandboxPool", "UNSAFE_ENV", "default_pool", "run",
           "run_batch", "unsafe_mode"]
