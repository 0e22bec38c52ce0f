"""The conf of a triggered ``sms_response_tracking`` run: what it may hold, and its check.

A run's conf comes from outside (the UI form, a REST call, a flowchart trigger, another DAG), so
it is refused, whole and with every problem named, before anything touches the database or the
platform. The DAG's Params carry the same rules as JSON schema (``PARAMS_SCHEMA``), so Airflow
refuses wrong types at trigger time; ``validate_conf`` adds what a per-key schema cannot say
(unknown keys, both ends of the window or neither, end after start, time zones) and runs in the
first task. Import-light on purpose: the DAG file imports this module at parse time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sms_response.errors import SmsResponseError, WindowError
from sms_response.window import Window, parse_ts, resolve_run_window

# Kept equal to sms_response.events.EVENT_CODES (a unit test checks); not imported from there
# because ``events`` pulls in phonenumbers and YAML, too heavy for DAG parsing.
EVENT_CODES = ("sentSMS", "interactedSMS")

# The campaign tool's unique mailing names: letters, digits, underscore, dot, hyphen; at most 128
# characters; starting with a letter or digit (the tool strips leading separators). The one
# definition: DAG Params, the trigger CLI and the segments task all use it. Quotes, spaces, semicolons and slashes can
# never pass, so a name is safe in a log line, a file name and (parameterised anyway) SQL.
MAILING_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"

# ISO-8601 / RFC 3339 date-time with an explicit offset (``Z`` or ``±HH:MM``); seconds and
# fractions optional. Also the Params' JSON-schema pattern: Airflow's ``format: date-time`` is only
# enforced when the optional rfc3339-validator package is installed, a pattern always is. The UI's
# date-time field sends ``2026-11-20T09:00:00.000Z`` (dayjs ``toISOString``), which passes.
DATETIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})$"
)

MAX_MAILING_NAMES = 100

CONF_KEYS = ("window_start", "window_end", "event_codes", "mailing_names")

# fullmatch, not match: a pattern's ``$`` also matches before a trailing newline in Python.
# The wave form's audience fields (sms_response.waves.targeting validates with the same patterns); empty allowed,
# as only the chosen source's fields are filled.
FILE_NAME_PATTERN = r"^([A-Za-z0-9_][A-Za-z0-9_\-.]{0,127})?$"
RELATION_PATTERN = r"^([A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?)?$"
RESPONSE_TYPES = ("click", "reply", "action", "conversion")

_MAILING_RE = re.compile(MAILING_NAME_PATTERN)
_DATETIME_RE = re.compile(DATETIME_PATTERN)

# JSON schema of each Param (``Param(default, **PARAMS_SCHEMA[key])``), so the trigger-time check
# and ``validate_conf`` cannot drift apart.
PARAMS_SCHEMA: dict[str, dict[str, Any]] = {
    "window_start": {
        "type": ["null", "string"],
        "format": "date-time",
        "pattern": DATETIME_PATTERN,
        "description": "Start of the publication-time window, ISO-8601 with an offset "
        "(e.g. 2026-11-20T09:00:00Z). Give window_end too, or neither (then the run's data interval).",
    },
    "window_end": {
        "type": ["null", "string"],
        "format": "date-time",
        "pattern": DATETIME_PATTERN,
        "description": "End (exclusive) of the window, after window_start, ISO-8601 with an offset.",
    },
    "event_codes": {
        "type": "array",
        "items": {"type": "string", "enum": list(EVENT_CODES)},
        "uniqueItems": True,
        "description": "Only these event codes (empty = all).",
    },
    "mailing_names": {
        "type": "array",
        "items": {"type": "string", "pattern": MAILING_NAME_PATTERN},
        "uniqueItems": True,
        "maxItems": MAX_MAILING_NAMES,
        "description": "Only events of these mailings (empty = all); the campaign tool's mailing names.",
    },
}


class ConfError(SmsResponseError):
    """A run's conf is refused; ``problems`` lists each reason, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(
            f"run conf refused ({len(self.problems)} problem(s)); nothing was downloaded or written:\n{lines}"
        )


@dataclass(frozen=True)
class RunConf:
    """A checked conf. ``window_start``/``window_end`` are both set (UTC) or both None."""

    window_start: datetime | None = None
    window_end: datetime | None = None
    event_codes: tuple[str, ...] = ()
    mailing_names: tuple[str, ...] = ()

    def window(
        self,
        *,
        data_interval_start: datetime | None,
        data_interval_end: datetime | None,
        run_after: datetime | None,
    ) -> Window:
        """The window the run processes: the conf's, else the data interval, else the hour before run_after."""
        span = resolve_run_window(
            window_start=self.window_start,
            window_end=self.window_end,
            data_interval_start=data_interval_start,
            data_interval_end=data_interval_end,
            run_after=run_after,
        )
        return Window.filtered(span.start, span.end, self.event_codes, self.mailing_names)

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "event_codes": list(self.event_codes),
            "mailing_names": list(self.mailing_names),
        }


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _timestamp(key: str, value: object, problems: list[str]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(
            f"{key} must be an ISO-8601 string with an offset or null, got {_type_name(value)} {_show(value)}"
        )
        return None
    if not _DATETIME_RE.fullmatch(value):
        problems.append(
            f"{key} {_show(value)} is not an ISO-8601 date-time with an offset "
            "(e.g. 2026-11-20T09:00:00Z or 2026-11-20T10:00:00+01:00); naive times are refused"
        )
        return None
    try:
        return parse_ts(value)
    except WindowError as exc:
        problems.append(f"{key}: {exc}")
        return None
    except ValueError as exc:  # e.g. month 13, hour 24: the pattern matched, the calendar did not
        problems.append(f"{key} {_show(value)} is not a valid date-time: {exc}")
        return None


def _string_list(key: str, value: object, problems: list[str]) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        problems.append(f"{key} must be a list of strings, got {_type_name(value)} {_show(value)}")
        return None
    bad = [f"[{i}] {_type_name(v)} {_show(v)}" for i, v in enumerate(value) if not isinstance(v, str)]
    if bad:
        problems.append(f"{key} must hold strings only; not strings: {', '.join(bad[:5])}")
        return None
    items = [str(v) for v in value]
    dupes = sorted({v for v in items if items.count(v) > 1})
    if dupes:
        problems.append(f"{key} lists {_show(dupes)} more than once")
    return items


def validate_conf(conf: Mapping[str, Any] | None) -> RunConf:
    """Check a run's conf (or its merged params) and return it typed; raise ``ConfError`` naming every problem.

    Refused: keys other than ``CONF_KEYS``; only one of window_start / window_end; timestamps that
    are not ISO-8601 or have no offset; window_end not after window_start; event codes other than
    ``EVENT_CODES``; mailing names not matching ``MAILING_NAME_PATTERN``; wrong JSON types.
    """
    conf = dict(conf or {})
    problems: list[str] = []

    unknown = sorted(str(k) for k in conf if k not in CONF_KEYS)
    if unknown:
        problems.append(f"unknown key(s) {', '.join(_show(k, 40) for k in unknown)}; allowed: {', '.join(CONF_KEYS)}")

    raw_start, raw_end = conf.get("window_start"), conf.get("window_end")
    start = _timestamp("window_start", raw_start, problems)
    end = _timestamp("window_end", raw_end, problems)
    if (raw_start is None) != (raw_end is None):
        given, missing = ("window_start", "window_end") if raw_end is None else ("window_end", "window_start")
        problems.append(f"{given} is given without {missing}: give both (a window) or neither (the data interval)")
    if start is not None and end is not None and end <= start:
        problems.append(
            f"window_end {end.isoformat()} is not after window_start {start.isoformat()} (the window is [start, end))"
        )

    codes = _string_list("event_codes", conf.get("event_codes"), problems)
    if codes is not None:
        unknown_codes = [c for c in codes if c not in EVENT_CODES]
        if unknown_codes:
            shown = ", ".join(_show(c, 40) for c in unknown_codes)
            problems.append(f"unknown event code(s) {shown}; known: {', '.join(EVENT_CODES)}")

    names = _string_list("mailing_names", conf.get("mailing_names"), problems)
    if names is not None:
        if len(names) > MAX_MAILING_NAMES:
            problems.append(f"mailing_names lists {len(names)} names; at most {MAX_MAILING_NAMES}")
        bad_names = [n for n in names if not _MAILING_RE.fullmatch(n)]
        if bad_names:
            problems.append(
                f"mailing name(s) {', '.join(_show(n, 60) for n in bad_names[:5])} do not match {MAILING_NAME_PATTERN} "
                "(letters, digits, _ . - only; at most 128 characters; not starting with . or -)"
            )

    if problems:
        raise ConfError(problems)
    return RunConf(
        window_start=start,
        window_end=end,
        event_codes=tuple(codes or ()),
        mailing_names=tuple(names or ()),
    )
