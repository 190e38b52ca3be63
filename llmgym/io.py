"""Files that survive a `kill -9`: every write in llmgym goes through these helpers.

- `atomic_write_text`: a temp file in the same folder, fsync, then `os.replace` — readers see the old
  content or the new, never half of it.
- `write_jsonl`: a whole JSONL file, through `atomic_write_text`.
- `append_jsonl`: one `write` of whole lines plus fsync, under an exclusive `flock` so that
  concurrent writers never interleave, and a killed process leaves complete records (a torn last
  line, if the OS tore one, is cut before the next append and skipped by `read_jsonl`).
  `JsonlAppender` is the same for a writer that appends many times and fsyncs when it chooses.
- `atomic_dir`: build a folder under a temp name and rename it into place when complete;
  `save_model_dir` saves a transformers model (and tokenizer) that way.

Reading: `read_jsonl` / `iter_jsonl` read what the appenders write, `read_json` a JSON file;
`parse_json` is `json.loads` for data read from files, refusing values nested deeper than any
llmgym writer nests (they would overflow the stack); `check_out_dir` / `check_out_file` refuse,
before a command starts work, an output path it could not write.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .errors import LLMGymError

# Deeper than any row llmgym writes (results, metrics, rankings nest 3 or 4 levels) and far below the
# recursion limit that json.loads and the code walking a value would hit.
MAX_JSON_DEPTH = 100


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: give the file the mode open() would
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_jsonl(path: str | os.PathLike, records: Iterable[Any], *, default: Any = str) -> None:
    """Replace a JSONL file with `records`, atomically (`atomic_write_text`): readers see the old rows
    or the new."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=default) + "\n" for r in records))


def _umask() -> int:
    """The process umask, read without changing it (os.umask can only be read by setting it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def append_jsonl(path: str | os.PathLike, records: Iterable[Any], *, default: Any = str) -> None:
    """Append records as whole lines and fsync (`default` converts what json cannot, as in `json.dumps`).
    A torn last line left by a killed writer (which `read_jsonl` skips) is cut off first, so that
    the next record does not glue onto it."""
    with JsonlAppender(path, default=default) as out:
        out.append(records)
        out.sync()


class JsonlAppender:
    """A JSONL file open for appends: each `append` is one `write(2)` of whole lines under an exclusive
    `flock` (concurrent appenders never interleave, and none cuts another's line as torn); `sync`
    fsyncs, so a writer of many rows chooses how often it pays for that.

    >>> import tempfile; d = tempfile.mkdtemp()
    >>> with JsonlAppender(f"{d}/r.jsonl") as out:
    ...     out.append([{"a": 1}, {"b": 2}])
    >>> list(read_jsonl(f"{d}/r.jsonl"))
    [{'a': 1}, {'b': 2}]
    """

    def __init__(self, path: str | os.PathLike, *, default: Any = str):
        self.path = Path(path)
        self.default = default
        self._fd: int | None = None

    def append(self, records: Iterable[Any]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False, default=self.default) + "\n" for r in records).encode("utf-8")
        if not data:
            return
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            _cut_torn_tail(self._fd)
            written = os.write(self._fd, data)
            while written < len(data):  # a short write on a full disk: finish it rather than tear the line
                written += os.write(self._fd, data[written:])
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def cut_torn_tail(path: str | os.PathLike) -> None:
    """Cut a file's torn last line (one a killed writer left without its newline), if it has one."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # not under a live appender's write
        _cut_torn_tail(fd)
    finally:
        os.close(fd)


def _cut_torn_tail(fd: int) -> None:
    """Truncate a file after its last newline, if it does not end in one."""
    end = os.fstat(fd).st_size
    pos = end
    while pos > 0:
        start = max(0, pos - 65_536)
        chunk = os.pread(fd, pos - start, start)
        if pos == end and chunk.endswith(b"\n"):
            return
        i = chunk.rfind(b"\n")
        if i >= 0:
            os.ftruncate(fd, start + i + 1)
            return
        pos = start
    if end:
        os.ftruncate(fd, 0)


def read_jsonl(path: str | os.PathLike) -> Iterator[Any]:
    """Records of a JSONL file; a torn final line (from a killed writer) is skipped.

    Any other line that is not UTF-8 JSON, or nests too deep, raises `LLMGymError` naming file and line.
    """
    for _, value in iter_jsonl(path):
        yield value


def iter_jsonl(path: str | os.PathLike, *, skip_bad: bool = False) -> Iterator[tuple[int, Any]]:
    """`(line number, record)` of a JSONL file, as `read_jsonl` reads it; with `skip_bad`, a line that
    is not UTF-8 JSON is skipped instead of refused (a cache or a file hand-edited into foreign bytes).
    A value nested too deep is refused either way (`parse_json`)."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                return
            raw = raw.strip()
            if not raw:
                continue
            try:
                value = parse_json(raw, f"{path}:{n}")
            except ValueError as exc:
                if skip_bad:
                    continue
                raise LLMGymError(f"{path}:{n}: {json_problem(exc)}") from None
            yield n, value


def read_json(path: str | os.PathLike) -> Any:
    """The JSON value of a file (`parse_json` of its bytes, named by its path in errors)."""
    return parse_json(Path(path).read_bytes(), str(path))


def parse_json(text: str | bytes, where: str) -> Any:
    """`json.loads(text)` for data read from a file; `where` names it in errors (`"run/metrics.jsonl:12"`).

    Text that is not UTF-8 or not JSON raises `ValueError` as `json.loads` does, so that a reader
    which tolerates a torn line can skip it. A value nested deeper than `MAX_JSON_DEPTH` raises
    `LLMGymError` naming `where`: no kill tears a row into that, and json (or any code walking the
    value) would end in RecursionError.

    >>> parse_json('{"a": [1, {"b": null}]}', "r.jsonl:1")
    {'a': [1, {'b': None}]}
    >>> parse_json("[" * 100_000 + "]" * 100_000, "r.jsonl:7")
    Traceback (most recent call last):
    ...
    llmgym.errors.LLMGymError: r.jsonl:7: JSON nested deeper than 100 levels; not a file llmgym wrote
    """
    try:
        # Decoded here, not by json.loads, which would take bytes for UTF-16 or UTF-32 by their first bytes.
        value = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except RecursionError:
        value, deep = None, True
    else:
        deep = _nesting_exceeds(value, MAX_JSON_DEPTH)
    if deep:
        raise LLMGymError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels; not a file llmgym wrote")
    return value


def json_problem(exc: ValueError) -> str:
    """What `parse_json`'s ValueError says about a line, in a few words for a one-line error."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
    return f"not JSON ({str(exc).splitlines()[0]})"


def _nesting_exceeds(value: Any, limit: int) -> bool:
    # Iterative, so a value just under json's own limit cannot overflow the stack here either.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_out_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Refuse, before any work starts, an output folder that cannot be written.

    It may exist (a folder) or not; refused are an existing file, a path below a file, and a place
    where no folder can be made or written (checked by making and removing a temp folder there).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise LLMGymError(f"{flag} {path}: is a file, not a folder; name a folder")
    _check_writable(p if p.is_dir() else p.parent, flag, path)
    return p


def check_out_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Refuse, before any work starts, an output file that cannot be written: an existing folder,
    a path below a file, or a folder that cannot be made or written."""
    p = Path(path)
    if p.is_dir():
        raise LLMGymError(f"{flag} {path}: is a folder, not a file; name a file")
    if p.exists() and not p.is_file():
        raise LLMGymError(f"{flag} {path}: is not a regular file")
    _check_writable(p.parent, flag, path)
    return p


def _check_writable(folder: Path, flag: str, given: str | os.PathLike) -> None:
    # The nearest folder that exists is where the missing ones would be made.
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LLMGymError(f"{flag} {given}: {existing} is a file, so nothing can be made below it")
    try:
        # Permission bits do not bind root and say nothing of read-only or virtual filesystems: try it.
        os.rmdir(tempfile.mkdtemp(prefix=".llmgym-write-check-", dir=existing))
    except OSError as exc:
        raise LLMGymError(f"{flag} {given}: cannot write in {existing} ({exc.strerror or exc})") from None


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """`with atomic_dir(d) as tmp:` write into `tmp`; on success it replaces `d` in one rename.

    With `replace=False` a `d` that exists by then is kept and the new folder dropped: for a folder
    that several processes may build at once, all alike (a cache), where a reader must never see
    one moved away under it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700: give the folder the mode mkdir would
        yield tmp
        if not replace:
            try:
                os.rename(tmp, dest)  # fails on a folder that is not empty: another process's
            except OSError:
                if not dest.is_dir():
                    raise
        elif dest.exists():
            old = dest.parent / f".{dest.name}-old-{os.getpid()}"
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_model_dir(dest: str | os.PathLike, model: Any, tokenizer: Any = None, *,
                   files: Mapping[str, str] | None = None, replace: bool = True) -> None:
    """Save a transformers `model` (and `tokenizer`, and `files`: name -> text, e.g. a metadata JSON)
    into the folder `dest` through `atomic_dir`: a kill at any point leaves the previous `dest` whole
    (or none), never a folder holding half a model."""
    with atomic_dir(dest, replace=replace) as tmp:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        for name, text in (files or {}).items():
            with open(tmp / name, "w", encoding="utf-8") as f:  # inside the temp folder: renamed whole
                f.write(text)


# What the helpers above leave behind when killed mid-write: `atomic_write_text`'s temp file
# (`.NAME.` + mkstemp's 8 random characters + `.tmp`) and `atomic_dir`'s temp folder (`.NAME-` + 8)
# or the previous folder moved aside (`.NAME-old-PID`).
_LEFTOVER_FILE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_LEFTOVER_DIR = re.compile(r"^\..+-(?:[a-z0-9_]{8}|old-[0-9]+)$")


def clean_leftovers(directory: str | os.PathLike) -> list[Path]:
    """Remove the temp files and folders that killed atomic writes left in `directory` (not below it).

    Call it only where no other process is writing into `directory` (a run at its start), since a
    live writer's temp file looks the same. Returns what was removed.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink() and _LEFTOVER_DIR.match(child.name):
            shutil.rmtree(child, ignore_errors=True)
        elif child.is_file() and _LEFTOVER_FILE.match(child.name):
            with contextlib.suppress(FileNotFoundError):
                child.unlink()
        else:
            continue
        removed.append(child)
    return removed
