"""Files that survive a `kill -9`: every write in llmgym goes through these helpers.

- `atomic_write_text`: a temp file in the same folder, fsync, then `os.replace` — readers see the old
  content or the new, never half of it.
- `append_jsonl`: one `write` of whole lines plus fsync, so a killed process leaves complete records
  (a torn last line, if the OS tore one, is skipped by `read_jsonl`).
- `atomic_dir`: build a folder under a temp name and rename it into place when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def append_jsonl(path: str | os.PathLike, records: Iterable[Any]) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    if not lines:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(lines)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | os.PathLike) -> Iterator[Any]:
    """Records of a JSONL file; a torn final line (from a killed writer) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                return
            line = line.strip()
            if line:
                yield json.loads(line)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """`with atomic_dir(d) as tmp:` write into `tmp`; on success it replaces `d` in one rename."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            old = dest.parent / f".{dest.name}-old-{os.getpid()}"
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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
