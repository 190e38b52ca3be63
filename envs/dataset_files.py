"""Row sources of the `dataset` env: a file or folder read row by row, each row with its place.

A source yields `(place, row)` pairs: `place` is the 1-based line of a JSONL or CSV file (the line a
row starts on), or the 1-based position of an item in a JSON array, a Parquet file or a `datasets`
folder, so every error can name where the bad row is. JSONL and CSV are streamed line by line with
the standard library (a reader that stops early reads only what it used); Parquet is read one
record batch at a time through pyarrow; a folder written by `datasets.Dataset.save_to_disk` is
memory-mapped by `datasets`; a JSON array is parsed whole, as JSON allows nothing else. A hub
dataset is loaded only when the user names one (`hub=`): a local path never falls back to the hub.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Iterator

from llmgym.errors import LLMGymError

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "arrow")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
             ".parquet": "parquet", ".pq": "parquet"}
PARQUET_BATCH = 1024


def _fail(label: str, place: str | None, what: str) -> LLMGymError:
    return LLMGymError(f"dataset: {label}{' ' + place if place else ''}: {what}")


class Source:
    """Rows of one file or dataset. `unit` names a place ("line" or "row"); `columns` are the first
    row's keys (or the dataset's column names), read without reading the rest."""

    unit = "row"

    def __init__(self, label: str):
        self.label = label

    def place(self, n: int) -> str:
        return f"{self.unit} {n}"

    def fail(self, n: int | None, what: str) -> LLMGymError:
        return _fail(self.label, None if n is None else self.place(n), what)

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        raise NotImplementedError

    def columns(self) -> list[str]:
        for _, row in self.rows():
            return list(row)
        return []

    def content_hash(self) -> str:
        raise NotImplementedError


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")


def _hash_files(paths: list[Path], root: Path | None = None) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if root is not None:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


class FileSource(Source):
    def __init__(self, path: Path, label: str):
        super().__init__(label)
        self.path = path

    def content_hash(self) -> str:
        return _hash_files([self.path])


class JsonlSource(FileSource):
    unit = "line"

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with open(self.path, "rb") as raw:
            fh = gzip.open(raw, "rb") if self.path.suffix == ".gz" else raw
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue  # a blank line (often the last one) holds no row
                try:
                    row = json.loads(line)
                except UnicodeDecodeError:
                    raise self.fail(n, "not UTF-8 text") from None
                except (ValueError, RecursionError) as exc:
                    raise self.fail(n, f"invalid JSON ({str(exc)[:120]})") from None
                if not isinstance(row, dict):
                    raise self.fail(n, f"expected a JSON object per line, got {type(row).__name__}")
                yield n, row


class JsonSource(FileSource):
    unit = "item"

    def _items(self) -> list[Any]:
        try:
            with _open_text(self.path) as fh:
                data = json.load(fh)
        except UnicodeDecodeError:
            raise self.fail(None, "not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise _fail(self.label, f"line {exc.lineno}", f"invalid JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(data, list):
            raise self.fail(None, f"a JSON file must hold a list of objects (got {type(data).__name__}); "
                                  "for one object per line use JSONL")
        return data

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for n, row in enumerate(self._items(), 1):
            if not isinstance(row, dict):
                raise self.fail(n, f"expected a JSON object, got {type(row).__name__}")
            yield n, row


class CsvSource(FileSource):
    unit = "line"

    def __init__(self, path: Path, label: str, delimiter: str = ","):
        super().__init__(path, label)
        self.delimiter = delimiter

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with _open_text(self.path) as fh:
            reader = csv.reader(fh, delimiter=self.delimiter)
            try:
                header = next(reader, None)
                if header is None:
                    return
                header = [h.strip() for h in header]
                start = reader.line_num + 1
                for cells in reader:
                    n, start = start, reader.line_num + 1
                    if not any(c.strip() for c in cells):
                        continue
                    if len(cells) != len(header):
                        raise self.fail(n, f"{len(cells)} fields where the header has {len(header)}")
                    # An empty cell is a missing value, as in a JSON row without that key.
                    yield n, {k: v for k, v in zip(header, cells) if v != ""}
            except UnicodeDecodeError:
                raise self.fail(None, "not UTF-8 text") from None
            except csv.Error as exc:
                raise self.fail(reader.line_num, f"malformed CSV ({exc})") from None

    def columns(self) -> list[str]:
        with _open_text(self.path) as fh:
            try:
                header = next(csv.reader(fh, delimiter=self.delimiter), None)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise self.fail(1, f"unreadable header ({exc})") from None
        return [h.strip() for h in header or []]


class ParquetSource(FileSource):
    def _file(self) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow's errors for a file that is not Parquet vary by version
            raise self.fail(None, f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:120]})") from None

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        n = 0
        for batch in self._file().iter_batches(batch_size=PARQUET_BATCH):
            for row in batch.to_pylist():
                n += 1
                yield n, row

    def columns(self) -> list[str]:
        return list(self._file().schema_arrow.names)


class DatasetSource(Source):
    """A `datasets.Dataset` (from a save_to_disk folder or the hub), read row by row."""

    def __init__(self, dataset: Any, label: str, fingerprint: str):
        super().__init__(label)
        self.dataset = dataset.with_format(None)
        self.fingerprint = fingerprint

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for n, row in enumerate(self.dataset, 1):
            yield n, row

    def columns(self) -> list[str]:
        return list(self.dataset.column_names)

    def content_hash(self) -> str:
        return self.fingerprint


def detect_format(path: Path) -> str:
    """The format of `path` from its suffix (and, for `.json`, its first character)."""
    if path.is_dir():
        return "arrow"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise LLMGymError(f"dataset: cannot tell the format of {path.name!r} from its name; name it .jsonl, "
                          f".json, .csv, .tsv or .parquet, or pass format= (one of {', '.join(FORMATS)})")
    if fmt == "json":
        # Many ".json" files hold one object per line; a JSON array starts with "[".
        with _open_text(path) as fh:
            head = fh.read(4096).lstrip("\ufeff \t\r\n")
        if not head.startswith("["):
            fmt = "jsonl"
    return fmt


def _load_folder(path: Path, label: str) -> tuple[Any, str]:
    import datasets

    if not ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()):
        raise LLMGymError(f"dataset: {label} is a folder but not one written by datasets' save_to_disk "
                          "(no dataset_info.json or dataset_dict.json in it)")
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # a damaged folder: say what datasets said
        raise LLMGymError(f"dataset: {label}: cannot be read by datasets.load_from_disk "
                          f"({type(exc).__name__}: {str(exc)[:160]})") from None
    return loaded, _hash_files(sorted(p for p in path.rglob("*") if p.is_file()), path)


def pick_split(loaded: Any, label: str, split: str | None) -> Any:
    """One split of a DatasetDict (the named one, else "train", else the only one); a Dataset as is."""
    if not hasattr(loaded, "keys"):
        if split not in (None, "train"):
            raise LLMGymError(f"dataset: {label} holds a single dataset, not splits; drop data_split={split!r}")
        return loaded
    names = list(loaded.keys())
    wanted = split or ("train" if "train" in names else names[0] if len(names) == 1 else None)
    if wanted not in names:
        raise LLMGymError(f"dataset: {label} has splits {', '.join(names)}; choose one with data_split=NAME")
    return loaded[wanted]


def open_source(path: Any, *, fmt: str | None = None, data_split: str | None = None,
                what: str = "path") -> Source:
    """The source for a local file or folder; a missing path is an error, never a hub download."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise LLMGymError(f"dataset: {what} must be a file or folder name, got {path!r}")
    label = str(path)
    p = Path(path).expanduser()
    if not p.exists():
        hint = ""
        if "/" in label and not label.startswith((".", "/", "~")) and label.count("/") == 1:
            hint = f"; to load a dataset from the Hugging Face hub, name it with hub={label!r}"
        raise LLMGymError(f"dataset: no file or folder {label!r} ({what}={label!r}){hint}")
    if fmt is not None and fmt not in FORMATS:
        raise LLMGymError(f"dataset: format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    fmt = fmt or detect_format(p)
    if fmt == "arrow" or p.is_dir():
        loaded, digest = _load_folder(p, label)
        return DatasetSource(pick_split(loaded, label, data_split), label, digest)
    if data_split is not None:
        raise LLMGymError(f"dataset: data_split= selects a split of a datasets folder or hub dataset; "
                          f"{label} is a single {fmt} file")
    if fmt == "jsonl":
        return JsonlSource(p, label)
    if fmt == "json":
        return JsonSource(p, label)
    if fmt in ("csv", "tsv"):
        return CsvSource(p, label, "\t" if fmt == "tsv" else ",")
    return ParquetSource(p, label)


def open_hub(hub: str, *, subset: str | None, data_split: str | None) -> Source:
    """A dataset from the Hugging Face hub: only ever called when the user named one with `hub=`."""
    import datasets

    if not isinstance(hub, str) or not hub.strip():
        raise LLMGymError(f"dataset: hub must be a dataset id like 'openai/gsm8k', got {hub!r}")
    label = f"hub:{hub}" + (f"/{subset}" if subset else "")
    try:
        loaded = datasets.load_dataset(hub, subset, split=data_split or "train")
    except Exception as exc:  # offline, unknown id, gated: one line with datasets' own words
        raise LLMGymError(f"dataset: cannot load {hub!r} from the hub ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    return DatasetSource(loaded, label, f"{hub}/{subset or ''}/{data_split or 'train'}/{loaded._fingerprint}")
