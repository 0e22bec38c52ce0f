"""Command line: ``python -m sms_simulator serve|platform|truth|customers``.

The bearer token is read only from ``SMS_SIM_TOKEN`` so it never appears in the
process list or shell history, and it is never printed.  ``customers`` writes the
brand's customer table to PostgreSQL; its ``--database-url`` defaults to
``SMS_RT_DATABASE_URL`` for the same reason (a URL may hold a password) and is
never printed either.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import uvicorn

from .app import ApiConfig, create_app
from .build import build_campaign
from .clock import parse_aware
from .config import SimulatorConfig
from .customer_table import CustomerTableError, write_customer_table
from .faults import FaultConfig
from .state import PlatformState

TOKEN_ENV = "SMS_SIM_TOKEN"
DATABASE_URL_ENV = "SMS_RT_DATABASE_URL"


def _aware(value: str) -> datetime:
    try:
        return parse_aware(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an ISO-8601 timestamp with timezone: {value!r}") from exc


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    d = SimulatorConfig()
    g = parser.add_argument_group("campaign model")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--recipients", type=int, default=d.recipients)
    g.add_argument("--mailings", type=int, default=d.mailings)
    g.add_argument("--campaign-code", default=d.campaign_code)
    g.add_argument("--campaign-start", type=_aware, default=d.campaign_start)
    g.add_argument("--mailing-interval-minutes", type=float, default=d.mailing_interval.total_seconds() / 60)
    g.add_argument("--duplicate-rate", type=float, default=d.duplicate_rate)
    g.add_argument("--malformed-rate", type=float, default=d.malformed_rate)
    g.add_argument("--late-rate", type=float, default=d.late_rate)
    g.add_argument("--multi-event-rate", type=float, default=d.multi_event_rate)


def _add_fault_flags(parser: argparse.ArgumentParser) -> None:
    d = FaultConfig()
    g = parser.add_argument_group("fault injection (all off by default)")
    g.add_argument("--rate-429", type=float, default=d.rate_429)
    g.add_argument("--retry-after", type=int, default=d.retry_after)
    g.add_argument("--rate-5xx", type=float, default=d.rate_5xx)
    g.add_argument("--rate-slow", type=float, default=d.rate_slow)
    g.add_argument("--slow-seconds", type=float, default=d.slow_seconds)
    g.add_argument("--rate-cut", type=float, default=d.rate_cut)
    g.add_argument("--max-faults-per-page", type=int, default=d.max_faults_per_page)
    g.add_argument("--fault-seed", type=int, default=d.fault_seed)


def _model_config(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        seed=args.seed,
        recipients=args.recipients,
        mailings=args.mailings,
        campaign_code=args.campaign_code,
        campaign_start=args.campaign_start,
        mailing_interval=timedelta(minutes=args.mailing_interval_minutes),
        duplicate_rate=args.duplicate_rate,
        malformed_rate=args.malformed_rate,
        late_rate=args.late_rate,
        multi_event_rate=args.multi_event_rate,
    )


def _fault_config(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        rate_429=args.rate_429,
        retry_after=args.retry_after,
        rate_5xx=args.rate_5xx,
        rate_slow=args.rate_slow,
        slow_seconds=args.slow_seconds,
        rate_cut=args.rate_cut,
        max_faults_per_page=args.max_faults_per_page,
        fault_seed=args.fault_seed,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sms_simulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help=f"serve the event API (token from ${TOKEN_ENV})")
    _add_model_flags(serve)
    _add_fault_flags(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--log-level", default="info")
    platform = sub.add_parser("platform", help="serve the simulator over a real platform's transport and print the "
                              "sms_platform connection as one JSON line (see sms_simulator.platform_cmd)")
    platform.add_argument("--platform", required=True, choices=("ubx", "twilio", "braze"))
    platform.add_argument("--workdir", required=True, type=Path, help="where the platform's files are written")
    _add_model_flags(platform)
    _add_fault_flags(platform)
    platform.add_argument("--host", default="127.0.0.1")
    platform.add_argument("--port", type=int, default=0, help="the simulator API's port (0: OS-picked)")
    truth = sub.add_parser("truth", help="print ground truth as JSON (whole campaign without --start/--end)")
    _add_model_flags(truth)
    truth.add_argument("--start", type=_aware)
    truth.add_argument("--end", type=_aware)
    customers = sub.add_parser("customers", help="write the brand's customer table (replaced) to PostgreSQL")
    _add_model_flags(customers)
    customers.add_argument("--database-url", default=os.environ.get(DATABASE_URL_ENV),
                           help=f"the response database (default: ${DATABASE_URL_ENV})")
    customers.add_argument("--schema", default="crm")
    customers.add_argument("--table", default="customers")
    return parser


def _served_campaign(args: argparse.Namespace) -> tuple[str, SimulatorConfig, FaultConfig, PlatformState] | None:
    """What ``serve`` and ``platform`` both start from: the token, the model, the faults and the built state
    (None, after an error on stderr, when the token is missing or a flag is invalid)."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"error: set {TOKEN_ENV} to the bearer token clients must send", file=sys.stderr)
        return None
    try:
        model, faults = _model_config(args), _fault_config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return token, model, faults, PlatformState(build_campaign(model))


def _serve(args: argparse.Namespace) -> int:
    served = _served_campaign(args)
    if served is None:
        return 2
    token, model, faults, state = served
    app = create_app(state, ApiConfig(token=token, faults=faults))
    print(
        f"sms-simulator: {len(state)} records, {model.mailings} mailings, {model.recipients} recipients; "
        f"serving on {args.host}:{args.port}",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, lifespan="off")
    return 0


def _platform(args: argparse.Namespace) -> int:
    from .platform_cmd import serve

    served = _served_campaign(args)
    if served is None:
        return 2
    token, _, faults, state = served
    return serve(args.platform, state, token, faults, args.workdir, host=args.host, port=args.port)


def _truth(args: argparse.Namespace) -> int:
    if (args.start is None) != (args.end is None):
        print("error: give both --start and --end, or neither", file=sys.stderr)
        return 2
    try:
        model = _model_config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = PlatformState(build_campaign(model))
    if args.start is None:
        result = state.truth_all()
    elif args.end <= args.start:
        print("error: --end must be after --start", file=sys.stderr)
        return 2
    else:
        result = state.truth(args.start, args.end)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _customers(args: argparse.Namespace) -> int:
    if not args.database_url:
        print(f"error: give --database-url or set {DATABASE_URL_ENV}", file=sys.stderr)
        return 2
    try:
        model = _model_config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = PlatformState(build_campaign(model))
    target = f"{args.schema}.{args.table}"
    try:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            written = write_customer_table(conn, state, schema=args.schema, table=args.table)
    except CustomerTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"error: writing {target} failed: {exc.diag.message_primary or str(exc).strip()}", file=sys.stderr)
        return 1
    unknown = sum(not c.known for c in written)
    print(f"sms-simulator: {len(written)} customers written to {target} "
          f"({unknown} with numbers the platform does not know)", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "platform":
        return _platform(args)
    if args.command == "customers":
        return _customers(args)
    return _truth(args)


if __name__ == "__main__":
    sys.exit(main())
