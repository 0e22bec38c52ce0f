"""Attribute → column mapping, loaded from YAML (``mapping.yaml`` ships as the default)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from sms_response.errors import MappingError

COLUMN_TYPES = ("text", "integer", "numeric", "lower", "boolean")
FIXED_COLUMNS = ("event_id", "phone_e164", "contact_id", "attributes", "is_late", "load_id")
_IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ColumnMap:
    column: str
    attribute: str
    required: bool = False
    type: str = "text"


@dataclass(frozen=True)
class CodeMapping:
    code: str
    table: str
    time_column: str
    columns: tuple[ColumnMap, ...]

    @cached_property
    def copy_columns(self) -> tuple[str, ...]:
        """Column order of the staging COPY."""
        return (
            "event_id",
            "phone_e164",
            "contact_id",
            self.time_column,
            *(c.column for c in self.columns),
            "attributes",
            "is_late",
            "load_id",
        )

    @cached_property
    def mapped_attributes(self) -> frozenset[str]:
        return frozenset({"eventId", *(c.attribute for c in self.columns)})


@dataclass(frozen=True)
class Mapping:
    codes: dict[str, CodeMapping]

    def for_code(self, code: str) -> CodeMapping | None:
        return self.codes.get(code)


def _ident(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _IDENT_RE.match(value):
        raise MappingError(f"{where}: {value!r} is not a lower-case SQL identifier")
    return value


def parse_mapping(doc: Any, source: str = "<mapping>") -> Mapping:
    if not isinstance(doc, dict) or not doc:
        raise MappingError(f"{source}: expected a mapping of event code → table definition")
    codes: dict[str, CodeMapping] = {}
    for code, spec in doc.items():
        where = f"{source}: {code}"
        if not isinstance(spec, dict):
            raise MappingError(f"{where}: expected keys table, time_column, columns")
        table = _ident(spec.get("table"), f"{where}.table")
        time_column = _ident(spec.get("time_column"), f"{where}.time_column")
        cols_doc = spec.get("columns")
        if not isinstance(cols_doc, dict) or not cols_doc:
            raise MappingError(f"{where}.columns: expected column → {{attribute: …}} entries")
        columns: list[ColumnMap] = []
        for column, cspec in cols_doc.items():
            cwhere = f"{where}.columns.{column}"
            _ident(column, cwhere)
            if column in FIXED_COLUMNS or column == time_column:
                raise MappingError(f"{cwhere}: {column} is filled by the importer and cannot be mapped")
            if not isinstance(cspec, dict) or not isinstance(cspec.get("attribute"), str):
                raise MappingError(f"{cwhere}: expected {{attribute: <name>}}")
            ctype = cspec.get("type", "text")
            if ctype not in COLUMN_TYPES:
                raise MappingError(f"{cwhere}: type {ctype!r} is not one of {', '.join(COLUMN_TYPES)}")
            unknown = set(cspec) - {"attribute", "required", "type"}
            if unknown:
                raise MappingError(f"{cwhere}: unknown keys {sorted(unknown)}")
            columns.append(ColumnMap(column, cspec["attribute"], bool(cspec.get("required", False)), ctype))
        codes[str(code)] = CodeMapping(str(code), table, time_column, tuple(columns))
    return Mapping(codes)


def load_mapping(path: Path | None = None) -> Mapping:
    """Load ``path``, or the packaged default mapping."""
    if path is None:
        text = (files("sms_response") / "mapping.yaml").read_text(encoding="utf-8")
        source = "mapping.yaml (packaged)"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MappingError(f"cannot read mapping file {path}: {exc}") from exc
        source = str(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{source}: not valid YAML: {exc}") from exc
    return parse_mapping(doc, source)
