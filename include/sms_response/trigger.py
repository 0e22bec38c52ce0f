"""Flowchart triggers: a campaign flowchart asks for response tracking (and the next wave) to run.

The classic set-up has a flowchart "call a trigger", a script on the campaign server. Here the
script writes a request either as a row of ``flowchart_triggers`` or as a JSON file in a drop
folder; the ``unica_flowchart_trigger`` DAG ingests the files, claims each request exactly once and
starts the runs with a deterministic run id, ``flowchart__<trigger_id>``, so a retried or
repeated start can never create a second run (Airflow refuses a duplicate run id).

    python -m sms_response.trigger --mailing SPRING26_Wave1_Offer_20261120090000 \\
        --window-start 2026-11-20T09:00:00Z --window-end 2026-11-20T12:00:00Z
    python -m sms_response.trigger --no-track --wave-conf @wave2.json --to file

Life of a request: ``pending`` → ``claimed`` → ``started`` → ``succeeded`` | ``failed``; a request
that cannot be read or validated ends ``rejected`` with the reason in ``message``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import socket
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from sms_response.run_conf import MAILING_NAME_PATTERN
from sms_response.errors import SmsResponseError

Conn = psycopg.Connection[TupleRow]

TRACKING_DAG_ID = "sms_response_tracking"
WAVE_DAG_ID = "sms_campaign_wave"
RUN_ID_PREFIX = "flowchart__"
DROP_DIR_ENV = "SMS_RT_FLOWCHART_DROP_DIR"

# The campaign tool's unique mailing names. The same shape as the `mailing_names` Param of
# sms_response_tracking, so a request accepted here is never refused by the run it starts.
MAILING_NAME_RE = re.compile(MAILING_NAME_PATTERN)
MAX_MAILINGS = 500
MAX_WAVE_CONF_BYTES = 64 * 1024
MAX_FILE_BYTES = 1024 * 1024
FINISHED_RUN_STATES = frozenset({"success", "failed"})
_FILE_KEYS = frozenset({"mailing_names", "window_start", "window_end", "run_tracking", "run_wave", "wave_conf",
                        "requested_by"})


class InvalidTrigger(SmsResponseError):
    """A trigger request is malformed; the message names the field and the value."""


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_time(name: str, value: object) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidTrigger(f"{name} {_show(value)} is not an ISO-8601 timestamp") from None
    else:
        raise InvalidTrigger(f"{name} must be an ISO-8601 string, not {_show(value)}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidTrigger(f"{name} {_show(value)} has no time zone; give an offset such as +00:00 or Z")
    return dt.astimezone(UTC)


@dataclass(frozen=True)
class TriggerRequest:
    """What a flowchart asks for: response tracking of some mailings (over a window), a wave, or both.

    Validated on construction: mailing names have the campaign tool's shape (anything that looks
    like an injection attempt is refused by name), the window is either absent or two
    timezone-aware instants with start < end, the wave conf is a JSON object, and at least one
    of tracking and wave is asked for. Instances are normalised (UTC, de-duplicated names).
    """

    mailing_names: tuple[str, ...] = ()
    window_start: datetime | None = None
    window_end: datetime | None = None
    run_tracking: bool = True
    wave_conf: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        names = self.mailing_names
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise InvalidTrigger(f"mailing_names must be a list of names, not {_show(names)}")
        if len(names) > MAX_MAILINGS:
            raise InvalidTrigger(f"{len(names)} mailing names in one trigger; at most {MAX_MAILINGS}")
        for name in names:
            if not isinstance(name, str) or not MAILING_NAME_RE.match(name):
                raise InvalidTrigger(
                    f"mailing name {_show(name)} is not a campaign mailing name (letters, digits, '_', '.', '-'; "
                    "starting with a letter or digit; at most 128 characters)"
                )
        object.__setattr__(self, "mailing_names", tuple(dict.fromkeys(names)))

        if (self.window_start is None) != (self.window_end is None):
            raise InvalidTrigger("give both window_start and window_end, or neither")
        if self.window_start is not None and self.window_end is not None:
            start = _parse_time("window_start", self.window_start)
            end = _parse_time("window_end", self.window_end)
            if end <= start:
                raise InvalidTrigger(
                    f"window_end {end.isoformat()} is not after window_start {start.isoformat()}")
            object.__setattr__(self, "window_start", start)
            object.__setattr__(self, "window_end", end)

        if not isinstance(self.run_tracking, bool):
            raise InvalidTrigger(f"run_tracking must be true or false, not {_show(self.run_tracking)}")
        if self.wave_conf is not None:
            if not isinstance(self.wave_conf, Mapping):
                raise InvalidTrigger(f"wave conf must be a JSON object, not {_show(self.wave_conf)}")
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
            raise InvalidTrigger(f"unknown key(s) {', '.join(_show(k) for k in unknown)}; "
                                 f"expected some of {', '.join(sorted(_FILE_KEYS))}")
        names = data.get("mailing_names") or []
        if not isinstance(names, list):
            raise InvalidTrigger(f"mailing_names must be a list of names, not {_show(names)}")
        start, end = data.get("window_start"), data.get("window_end")
        req = cls(
            mailing_names=tuple(names),
            window_start=None if start is None else _parse_time("window_start", start),
            window_end=None if end is None else _parse_time("window_end", end),
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


@dataclass(frozen=True)
class IngestResult:
    """What one pass over the drop folder did: trigger ids created, files already ingested, files refused."""

    created: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


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


# --- the table ------------------------------------------------------------------------------------

PENDING_COUNT_SQL = "SELECT count(*) FROM flowchart_triggers WHERE status = 'pending'"

_INSERT_SQL = """
INSERT INTO flowchart_triggers
    (source, source_ref, requested_by, run_tracking, run_wave, mailing_names, window_start, window_end, wave_conf)
VALUES (%(source)s, %(source_ref)s, %(requested_by)s, %(run_tracking)s, %(run_wave)s, %(mailing_names)s,
        %(window_start)s, %(window_end)s, %(wave_conf)s)
ON CONFLICT (source_ref) DO NOTHING
RETURNING trigger_id
"""

_INSERT_REJECTED_SQL = """
INSERT INTO flowchart_triggers (source, source_ref, requested_by, run_tracking, status, message)
VALUES ('file', %(source_ref)s, %(requested_by)s, false, 'rejected', %(message)s)
ON CONFLICT (source_ref) DO NOTHING
RETURNING trigger_id
"""

# The subquery locks the rows it picks and skips rows another claimer holds, so two claimers
# never take the same row; a claim older than `stale` (its claimer died before starting the runs)
# is taken over, which is safe because the run ids are deterministic.
_CLAIM_SQL = """
UPDATE flowchart_triggers
SET status = 'claimed', claimed_by = %(me)s, claimed_at = now(), updated_at = now(),
    message = CASE WHEN status = 'claimed' THEN 'reclaimed from ' || claimed_by ELSE message END
WHERE trigger_id IN (
    SELECT trigger_id FROM flowchart_triggers
    WHERE status = 'pending' OR (status = 'claimed' AND claimed_at < now() - %(stale)s)
    ORDER BY trigger_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING trigger_id, source, source_ref, requested_by, run_tracking, mailing_names, window_start, window_end,
          wave_conf
"""

_MINE_SQL = """
SELECT trigger_id, source, source_ref, requested_by, run_tracking, mailing_names, window_start, window_end, wave_conf
FROM flowchart_triggers WHERE status = 'claimed' AND claimed_by = %s ORDER BY trigger_id
"""


def write_trigger_row(conn: Conn, req: TriggerRequest, requested_by: str) -> int:
    """Insert a pending request (source 'table'); return its trigger id."""
    with conn.transaction():
        row = conn.execute(_INSERT_SQL, _insert_params(req, "table", None, requested_by)).fetchone()
    assert row is not None  # no source_ref: no conflict possible
    return int(row[0])


def _insert_params(req: TriggerRequest, source: str, source_ref: str | None, requested_by: str) -> dict[str, Any]:
    return {
        "source": source,
        "source_ref": source_ref,
        "requested_by": requested_by,
        "run_tracking": req.run_tracking,
        "run_wave": req.run_wave,
        "mailing_names": list(req.mailing_names),
        "window_start": req.window_start,
        "window_end": req.window_end,
        "wave_conf": Jsonb(dict(req.wave_conf)) if req.wave_conf is not None else None,
    }


def pending_count(conn: Conn) -> int:
    with conn.transaction():
        row = conn.execute(PENDING_COUNT_SQL).fetchone()
    return int(row[0]) if row else 0


def _claimed_from_row(row: Sequence[Any]) -> ClaimedTrigger:
    trigger_id, source, source_ref, requested_by, run_tracking, names, start, end, wave_conf = row
    return ClaimedTrigger(
        trigger_id=int(trigger_id),
        source=str(source),
        source_ref=source_ref,
        requested_by=str(requested_by),
        request=TriggerRequest(
            mailing_names=tuple(names or ()), window_start=start, window_end=end,
            run_tracking=bool(run_tracking), wave_conf=wave_conf,
        ),
    )


def claim_pending(
    conn: Conn, claimed_by: str, limit: int = 20, *, reclaim_after: timedelta = timedelta(hours=1)
) -> list[ClaimedTrigger]:
    """Claim up to ``limit`` pending requests (oldest first) for ``claimed_by``, exactly once across claimers.

    A row that fails validation (rows may be written by hand or by a flowchart's own SQL) is set
    to ``rejected`` with the reason, in the same transaction, and is not returned.
    """
    claimed: list[ClaimedTrigger] = []
    with conn.transaction():
        rows = conn.execute(_CLAIM_SQL, {"me": claimed_by, "stale": reclaim_after, "limit": limit}).fetchall()
        for row in sorted(rows, key=lambda r: int(r[0])):
            try:
                claimed.append(_claimed_from_row(row))
            except InvalidTrigger as exc:
                conn.execute(
                    "UPDATE flowchart_triggers SET status = 'rejected', message = %s, updated_at = now() "
                    "WHERE trigger_id = %s",
                    (str(exc), row[0]),
                )
    return claimed


def claimed_by(conn: Conn, claimer: str) -> list[ClaimedTrigger]:
    """Requests ``claimer`` holds and has not started yet (e.g. claimed by an earlier try of the same task)."""
    with conn.transaction():
        rows = conn.execute(_MINE_SQL, (claimer,)).fetchall()
    return [_claimed_from_row(r) for r in rows]


def record_started(
    conn: Conn, trigger_id: int, dag_run_ids: Mapping[str, str], *, not_started: Sequence[str] = ()
) -> bool:
    """Record the runs a request started (dag_id → run_id); dags in ``not_started`` count as failed runs."""
    message = f"could not start {', '.join(not_started)}" if not_started else None
    with conn.transaction():
        cur = conn.execute(
            "UPDATE flowchart_triggers SET status = 'started', dag_run_ids = %s, run_states = run_states || %s, "
            "message = coalesce(%s, message), updated_at = now() "
            "WHERE trigger_id = %s AND status IN ('claimed', 'started')",
            (Jsonb(dict(dag_run_ids)), Jsonb(dict.fromkeys(not_started, "not_started")), message, trigger_id),
        )
    return cur.rowcount == 1


def record_start_failed(conn: Conn, trigger_id: int, message: str) -> bool:
    """A claimed request none of whose runs could be created ends ``failed``."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE flowchart_triggers SET status = 'failed', message = %s, updated_at = now() "
            "WHERE trigger_id = %s AND status = 'claimed'",
            (message, trigger_id),
        )
    return cur.rowcount == 1


def record_outcome(conn: Conn, trigger_id: int, run_states: Mapping[str, str]) -> str | None:
    """Record the final states of a started request's runs: ``succeeded`` if all succeeded, else ``failed``.

    Returns the new status, or None when the request was not ``started`` (already recorded).
    """
    with conn.transaction():
        row = conn.execute(
            "UPDATE flowchart_triggers SET run_states = run_states || %(states)s, updated_at = now(), "
            "status = CASE WHEN (SELECT bool_and(value = 'success') FROM jsonb_each_text(run_states || %(states)s)) "
            "THEN 'succeeded' ELSE 'failed' END "
            "WHERE trigger_id = %(id)s AND status = 'started' RETURNING status",
            {"states": Jsonb(dict(run_states)), "id": trigger_id},
        ).fetchone()
    return str(row[0]) if row else None


def started_triggers(conn: Conn) -> list[tuple[int, dict[str, str]]]:
    """Requests whose runs were started and whose outcome is not recorded yet: (trigger_id, dag_id → run_id)."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT trigger_id, dag_run_ids FROM flowchart_triggers WHERE status = 'started' ORDER BY trigger_id"
        ).fetchall()
    return [(int(r[0]), {str(k): str(v) for k, v in dict(r[1]).items()}) for r in rows]


# --- the drop folder ------------------------------------------------------------------------------


def default_drop_dir(env: Mapping[str, str] | None = None) -> Path:
    """``SMS_RT_FLOWCHART_DROP_DIR``, else ``<SMS_RT_LOCAL_DIR>/flowchart_drop``."""
    from sms_response.settings import Settings

    e = os.environ if env is None else env
    if e.get(DROP_DIR_ENV):
        return Path(e[DROP_DIR_ENV]).expanduser()
    return Settings.from_env(e).local_dir / "flowchart_drop"


def write_trigger_file(drop_dir: Path, req: TriggerRequest, requested_by: str | None = None) -> Path:
    """Write a request into the drop folder atomically (temporary name, fsync, rename); return its path."""
    drop_dir.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}.json"
    body = req.to_dict()
    if requested_by:
        body["requested_by"] = requested_by
    tmp = drop_dir / f".{name}.tmp"  # hidden and not *.json: ingesters never see a half-written file
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    final = drop_dir / name
    os.rename(tmp, final)
    return final


def _requeue_stale(processing: Path, drop_dir: Path, stale_after: timedelta) -> None:
    """Files an ingester took and never finished (it died) go back to the drop folder."""
    limit = datetime.now(UTC).timestamp() - stale_after.total_seconds()
    for path in processing.glob("*.json"):
        try:
            if path.stat().st_mtime < limit:
                os.rename(path, drop_dir / path.name)
        except FileNotFoundError:
            continue


def _read_request(path: Path) -> tuple[TriggerRequest, str | None]:
    if path.is_symlink() or not path.is_file():
        raise InvalidTrigger("not a regular file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidTrigger(f"file is {size} bytes; at most {MAX_FILE_BYTES}")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidTrigger(f"not valid JSON: {exc}") from None
    req = TriggerRequest.from_dict(data)
    requested_by = data.get("requested_by")
    if requested_by is not None and (not isinstance(requested_by, str) or len(requested_by) > 200):
        raise InvalidTrigger(f"requested_by must be a short string, not {_show(requested_by)}")
    return req, requested_by


def ingest_drop_folder(
    conn: Conn, drop_dir: Path, *, stale_after: timedelta = timedelta(minutes=10)
) -> IngestResult:
    """Turn every ``*.json`` file of ``drop_dir`` into a ``flowchart_triggers`` row, exactly once.

    Each file is first moved to ``processing/`` by an atomic rename, so of several ingesters
    exactly one takes it; the row is keyed by the file name (``source_ref`` UNIQUE, ON CONFLICT DO
    NOTHING), so even a file ingested twice after a crash gives one row. Then the file moves to
    ``done/``, or to ``rejected/`` with the reason in ``<name>.reason`` and a ``rejected`` row.
    """
    processing, done, rejected_dir = drop_dir / "processing", drop_dir / "done", drop_dir / "rejected"
    for d in (processing, done, rejected_dir):
        d.mkdir(parents=True, exist_ok=True)
    _requeue_stale(processing, drop_dir, stale_after)
    result = IngestResult()
    for src in sorted(drop_dir.glob("*.json")):
        taken = processing / src.name
        try:
            os.rename(src, taken)
            os.utime(taken)  # the claim time, for _requeue_stale
        except FileNotFoundError:
            continue  # another ingester took it
        try:
            req, requested_by = _read_request(taken)
        except InvalidTrigger as exc:
            with conn.transaction():
                conn.execute(_INSERT_REJECTED_SQL, {"source_ref": src.name, "requested_by": "drop folder",
                                                    "message": f"{src.name}: {exc}"})
            (rejected_dir / f"{src.name}.reason").write_text(f"{exc}\n", encoding="utf-8")
            _move(taken, rejected_dir / src.name)
            result.rejected.append(src.name)
            continue
        with conn.transaction():
            row = conn.execute(
                _INSERT_SQL, _insert_params(req, "file", src.name, requested_by or "drop folder")).fetchone()
        if row is None:
            result.duplicates.append(src.name)
        else:
            result.created.append(int(row[0]))
        _move(taken, done / src.name)
    return result


def _move(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass  # a concurrent ingester that re-took a stale file moved it already


def has_drop_files(drop_dir: Path) -> bool:
    """Whether ``drop_dir`` holds a request file waiting to be ingested (cheap: stops at the first)."""
    try:
        return next(drop_dir.glob("*.json"), None) is not None
    except OSError:
        return False


# --- the command line (the flowchart's trigger script) ---------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2: a flowchart log shows it whole
        self.exit(2, f"error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m sms_response.trigger",
        description="Ask Airflow to run response tracking (and optionally a campaign wave) for mailings.",
    )
    p.add_argument("--mailing", action="append", default=[], metavar="NAME",
                   help="a mailing name (repeatable); none = every mailing of the window")
    p.add_argument("--window-start", metavar="ISO", help="start of the window, ISO-8601 with offset")
    p.add_argument("--window-end", metavar="ISO", help="end (exclusive) of the window, ISO-8601 with offset")
    p.add_argument("--track", action=argparse.BooleanOptionalAction, default=True,
                   help="run sms_response_tracking (default: yes)")
    p.add_argument("--wave-conf", metavar="JSON|@FILE", help="conf of an sms_campaign_wave run to start")
    p.add_argument("--to", choices=["table", "file"], default="table",
                   help="write a flowchart_triggers row (default) or a file in the drop folder")
    p.add_argument("--drop-dir", type=Path, help=f"drop folder for --to file (default ${DROP_DIR_ENV})")
    p.add_argument("--requested-by", help="who asks (default user@host)")
    return p


def _wave_conf(arg: str | None) -> Any:
    if arg is None:
        return None
    text = arg
    if arg.startswith("@"):
        try:
            text = Path(arg[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidTrigger(f"--wave-conf file {arg[1:]!r}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidTrigger(f"--wave-conf is not valid JSON: {exc}") from None


def _whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        req = TriggerRequest(
            mailing_names=tuple(args.mailing),
            window_start=None if args.window_start is None else _parse_time("--window-start", args.window_start),
            window_end=None if args.window_end is None else _parse_time("--window-end", args.window_end),
            run_tracking=args.track,
            wave_conf=_wave_conf(args.wave_conf),
        )
        requested_by = args.requested_by or _whoami()
        if args.to == "file":
            print(write_trigger_file(args.drop_dir or default_drop_dir(), req, requested_by))
            return 0
        from sms_response import migrate
        from sms_response.settings import Settings
        from sms_response.db import connection, resolve_url

        settings = Settings.from_env()
        url = resolve_url(settings)
        migrate.upgrade(url, settings.schema)
        with connection(url, settings.schema) as conn:
            print(write_trigger_row(conn, req, requested_by))
        return 0
    except SmsResponseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (psycopg.OperationalError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
