"""The flowchart's trigger script: write a request as a ``flowchart_triggers`` row or a drop-folder file.

    python -m sms_response.trigger --mailing SPRING26_Wave1_Offer_20261120090000 \\
        --window-start 2026-11-20T09:00:00Z --window-end 2026-11-20T12:00:00Z
    python -m sms_response.trigger --no-track --wave-conf @wave2.json --to file

Prints the new trigger id (``--to table``, the default) or the file's path (``--to file``). Exit
status 0 on success, 2 for a refused request or bad arguments (one line on stderr, nothing
written), 1 when the database or the folder cannot be reached. ``main`` reads the settings once
and passes them on.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import psycopg

from sms_response.errors import SmsResponseError
from sms_response.settings import Settings
from sms_response.trigger.drop_folder import write_trigger_file
from sms_response.trigger.request import InvalidTrigger, TriggerRequest, parse_time
from sms_response.trigger.store import write_trigger_row


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
    p.add_argument("--drop-dir", type=Path, help="drop folder for --to file (default $SMS_RT_FLOWCHART_DROP_DIR)")
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


def _write_row(settings: Settings, req: TriggerRequest, requested_by: str) -> int:
    # Imported here: --to file needs neither Alembic nor a server.
    from sms_response import migrate
    from sms_response.db import connection, resolve_url

    url = resolve_url(settings)
    migrate.upgrade(url, settings.schema)
    with connection(url, settings.schema) as conn:
        return write_trigger_row(conn, req, requested_by)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        req = TriggerRequest(
            mailing_names=tuple(args.mailing),
            window_start=None if args.window_start is None else parse_time("--window-start", args.window_start),
            window_end=None if args.window_end is None else parse_time("--window-end", args.window_end),
            run_tracking=args.track,
            wave_conf=_wave_conf(args.wave_conf),
        )
        requested_by = args.requested_by or _whoami()
        settings = Settings.from_env()
        if args.to == "file":
            print(write_trigger_file(args.drop_dir or settings.drop_dir, req, requested_by))
        else:
            print(_write_row(settings, req, requested_by))
        return 0
    except SmsResponseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (psycopg.OperationalError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
              file=sys.stderr)
        return 1
