"""What one sandboxed execution may use (`Limits`), what it asks for (`Program`) and what came of it
(`Result`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import LLMGymError

STATUSES = ("ok", "error", "timeout", "memory", "output_limit", "killed")
OUTPUT_CAP = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of one execution.

    `wall_seconds` bounds the whole run including reading its output; `cpu_seconds` is RLIMIT_CPU
    per process; `memory_mb` is the address-space limit per process; `processes` counts every
    process and thread in the sandbox (the fork server included); `output_bytes` caps stdout and
    stderr together (at most 1 MiB).
    """

    wall_seconds: float = 10.0
    cpu_seconds: float = 5.0
    memory_mb: int = 512
    file_size_mb: int = 16
    open_files: int = 64
    processes: int = 16
    output_bytes: int = OUTPUT_CAP

    def __post_init__(self) -> None:
        checks = {
            "wall_seconds": 0 < self.wall_seconds <= 600,
            "cpu_seconds": 0 < self.cpu_seconds <= 600,
            "memory_mb": 32 <= self.memory_mb <= 8192,
            "file_size_mb": 0 <= self.file_size_mb <= 1024,
            "open_files": 8 <= self.open_files <= 4096,
            "processes": 4 <= self.processes <= 256,
            "output_bytes": 0 < self.output_bytes <= OUTPUT_CAP,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise LLMGymError(f"sandbox limit out of range: {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Program:
    """One execution request: Python source, its stdin, its limits."""

    code: str
    stdin: str = ""
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Result:
    """The outcome of one execution.

    `status` is one of ok (exit 0), error (non-zero exit), timeout (wall or CPU limit),
    memory (out of memory), output_limit (more than `output_bytes` written), killed (died by a
    signal, or the sandbox itself died). `exit_code` is negative for a signal.
    """

    status: str
    exit_code: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"
