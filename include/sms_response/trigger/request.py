"""A flowchart's request, validated once, and the runs it starts with their deterministic run ids.

A request asks for response tracking of some mailings (over a window), a campaign wave, or both.
Its mailing names obey the run conf's rule and limit (``run_conf.MAILING_NAME_PATTERN``, matched
whole, and ``run_conf.MAX_MAILING_NAMES``) and its times are parsed by ``window.parse_ts``, so a
request accepted here is never refused by the run it starts. Each run is started with the run id
``flowchart__<trigger_id>``: a retried or repeated start can never create a second run (Airflow
refuses a duplicate run id).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sms_response.errors import SmsResponseError, WindowError
from sms_response.run_conf import MAILING_NAME_PATTERN, MAX_MAILING_NAMES
from sms_response.window import parse_ts

TRACKING_DAG_ID = "sms_response_tracking"
WAVE_DAG_ID = "sms_campaign_wave"
RUN_ID_PREFIX = "flowchart__"
MAX_WAVE_CONF_BYTES = 64 * 1024

# Matched with fullmatch, as the run conf does: ``$`` alone also matches before a trailing newline.
_MAILING_NAME_RE = re.compile(MAILING_NAME_PATTERN)
_FILE_KEYS = frozenset({"mailing_names", "window_start", "window_end", "run_tracking", "run_wave", "wave_conf",
                        "requested_by"})


class InvalidTrigger(SmsResponseError):
    """A trigger request is malformed; the message names the field and the value."""


def show(value: object, limit: int = 80) -> str:
    """``repr(value)``, shortened for a one-line error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_time(name: str, value: object) -> datetime:
    """``value`` as a UTC instant by ``window.parse_ts`` (offset required); the error names the field."""
    if not isinstance(value, str | datetime):
        raise InvalidTrigger(f"{name} must be an ISO-8601 string, not {show(value)}")
    try:
        return parse_ts(value)
    except WindowError as exc:
        # parse_ts chains the ValueError of an unreadable value; a naive time has no cause.
        problem = ("is not an ISO-8601 timestamp" if exc.__cause__ is not None
                   else "has no time zone; give an offset such as +00:00 or Z")
        raise InvalidTrigger(f"{name} {show(value)} {problem}") from None


@dataclass(frozen=True)
class TriggerRequest:
    """What a flowchart asks for: response tracking of some mailings (over a window), a wave, or both.

    Validated on construction: mailing names have the campaign tool's shape (anything that looks
    like an injection attempt is refused by name) and are at most ``MAX_MAILING_NAMES``, the window
    is either absent or two timezone-aware instants with start < end, the wave conf is a JSON
    object, and at least one of tracking and wave is asked for. Instances are normalised (UTC,
    de-duplicated names).
    """

    mailing_names: tuple[str, ...] = ()
    window_start: datetime | None = None
    window_end: datetime | None = None
    run_tracking: bool = True
    wave_conf: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        names = self.mailing_names
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise InvalidTrigger(f"mailing_names must be a list of names, not {show(names)}")
        if len(names) > MAX_MAILING_NAMES:
            raise InvalidTrigger(f"{len(names)} mailing names in one trigger; at most {MAX_MAILING_NAMES}")
        for name in names:
            if not isinstance(name, str) or not _MAILING_NAME_RE.fullmatch(name):
                raise InvalidTrigger(
                    f"mailing name {show(name)} is not a campaign mailing name (letters, digits, '_', '.', '-'; "
                    "starting with a letter or digit; at most 128 characters)"
                )
        object.__setattr__(self, "mailing_names", tuple(dict.fromkeys(names)))

        if (self.window_start is None) != (self.window_end is None):
            raise InvalidTrigger("give both window_start and window_end, or neither")
        if self.window_start is not None and self.window_end is not None:
            start = parse_time("window_start", self.window_start)
            end = parse_time("window_end", self.window_end)
            if end <= start:
                raise InvalidTrigger(
                    f"window_end {end.isoformat()} is not after window_start {start.isoformat()}")
            object.__setattr__(self, "window_start", start)
            object.__setattr__(self, "window_end", end)

        if not isinstance(self.run_tracking, bool):
            raise InvalidTrigger(f"run_tracking must be true or false, not {show(self.run_tracking)}")
        if self.wave_conf is not None:
            if not isinstance(self.wave_conf, Mapping):
                raise InvalidTrigger(f"wave conf must be a JSON object, not {show(self.wave_conf)}")
            try:
                encoded = json.dumps(dict(self.wave_conf), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidTrigger(f"wave conf is not plain JSON: {exc}") from None
            if len(encoded.encode()) > MAX_WAVE_CONF_BYTES:
                raise InvalidTrigger(f"wave conf is {len(encoded.encode())} bytes; at most {MAX_WAVE_CONF_BYTES}")
            object.__setattr__(self, "wave_conf", json.loads(encoded))
        if not self.run_tracking and self.wave_conf is None:
            raise InvalidTrigger("nothing to run: ask for response tracking, a wave (wave conf), or both")

    @property
    def run_wave(self) -> bool:
        return self.wave_conf is not None

    @classmethod
    def from_dict(cls, data: object) -> TriggerRequest:
        """A request from its JSON form (a drop file); unknown keys are refused (they are typos)."""
        if not isinstance(data, Mapping):
            raise InvalidTrigger(f"a trigger must be a JSON object, not {type(data).__name__}")
        unknown = sorted(set(data) - _FILE_KEYS)
        if unknown:
            raise InvalidTrigger(f"unknown key(s) {', '.join(show(k) for k in unknown)}; "
                                 f"expected some of {', '.join(sorted(_FILE_KEYS))}")
        names = data.get("mailing_names") or []
        if not isinstance(names, list):
            raise InvalidTrigger(f"mailing_names must be a list of names, not {show(names)}")
        start, end = data.get("window_start"), data.get("window_end")
        req = cls(
            mailing_names=tuple(names),
            window_start=None if start is None else parse_time("window_start", start),
            window_end=None if end is None else parse_time("window_end", end),
            run_tracking=data.get("run_tracking", True),
            wave_conf=data.get("wave_conf"),
        )
        if "run_wave" in data and data["run_wave"] != req.run_wave:
            raise InvalidTrigger("run_wave is true but there is no wave_conf" if data["run_wave"]
                                 else "run_wave is false but a wave_conf is given")
        return req

    def to_dict(self) -> dict[str, Any]:
        return {
            "mailing_names": list(self.mailing_names),
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "run_tracking": self.run_tracking,
            "run_wave": self.run_wave,
            "wave_conf": dict(self.wave_conf) if self.wave_conf is not None else None,
        }


@dataclass(frozen=True)
class ClaimedTrigger:
    trigger_id: int
    source: str
    source_ref: str | None
    requested_by: str
    request: TriggerRequest


class RunConf(NamedTuple):
    dag_id: str
    run_id: str
    conf: dict[str, Any]


def run_id_for(trigger_id: int) -> str:
    return f"{RUN_ID_PREFIX}{trigger_id}"


def confs_for(trigger: ClaimedTrigger) -> list[RunConf]:
    """The runs a trigger asks for, with their deterministic run id and conf."""
    req, run_id = trigger.request, run_id_for(trigger.trigger_id)
    out: list[RunConf] = []
    if req.run_tracking:
        conf: dict[str, Any] = {}
        if req.window_start is not None and req.window_end is not None:
            conf["window_start"] = req.window_start.isoformat()
            conf["window_end"] = req.window_end.isoformat()
        if req.mailing_names:
            conf["mailing_names"] = list(req.mailing_names)
        out.append(RunConf(TRACKING_DAG_ID, run_id, conf))
    if req.wave_conf is not None:
        out.append(RunConf(WAVE_DAG_ID, run_id, dict(req.wave_conf)))
    return out
