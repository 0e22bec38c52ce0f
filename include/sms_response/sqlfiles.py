"""SQL lives in ``sql/*.sql``; this module loads it once."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load_sql(name: str) -> str:
    return (files("sms_response") / "sql" / f"{name}.sql").read_text(encoding="utf-8")


@cache
def sql_statements(name: str) -> tuple[str, ...]:
    """The statements of a multi-statement file (comment lines dropped, split on ``;``)."""
    body = "\n".join(line for line in load_sql(name).splitlines() if not line.lstrip().startswith("--"))
    return tuple(s.strip() for s in body.split(";") if s.strip())
