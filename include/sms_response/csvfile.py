"""A CSV file as (line number, row) pairs: the number a user sees in an editor, also for quoted multi-line fields."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sms_response.errors import SmsResponseError


class CsvFileError(SmsResponseError):
    """The file cannot be read as CSV with a header row."""


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]
    extra: bool  # more fields than the header names


def read_csv(path: Path) -> tuple[tuple[str, ...], list[CsvRow]]:
    """The header and the rows of ``path`` (UTF-8, a BOM allowed); blank lines are skipped."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _read(handle, path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CsvFileError(f"cannot read {path}: {exc}") from exc


def _read(handle: Iterator[str], path: Path) -> tuple[tuple[str, ...], list[CsvRow]]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if not header:
        raise CsvFileError(f"{path} is empty: a header row is needed")
    names = tuple(h.strip() for h in header)
    rows: list[CsvRow] = []
    last = reader.line_num
    for fields in reader:
        start, last = last + 1, reader.line_num
        if not any(f.strip() for f in fields):
            continue
        values = {name: (fields[i] if i < len(fields) else "") for i, name in enumerate(names)}
        rows.append(CsvRow(start, values, len(fields) > len(names)))
    return names, rows
