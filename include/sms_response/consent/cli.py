"""``sms-rt consent load``: consent records from a consent list or the platform's opt-status export.

    sms-rt consent load --csv FILE      phone, status (opted_in / opted_out), timestamp with offset [, ref]
    sms-rt consent load --platform      GET /v1/subscribers/opt-status (SMS_RT_PLATFORM_URL, SMS_RT_PLATFORM_TOKEN)

All or nothing, and idempotent: loading the same records again changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import psycopg

from sms_response.consent.records import parse_consent_list, parse_opt_status_export
from sms_response.consent.store import load_consent
from sms_response.phones import PhoneNormaliser
from sms_response.platform_env import platform_client_from_env
from sms_response.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["load"])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, metavar="FILE", help="a consent list: phone, status, timestamp [, ref]")
    source.add_argument("--platform", action="store_true", help="the platform's opt-status export")


def run(conn: psycopg.Connection[Any], settings: Settings, args: argparse.Namespace) -> str:
    normaliser = PhoneNormaliser(settings.default_region)
    if args.csv is not None:
        return load_consent(conn, parse_consent_list(args.csv, normaliser), f"file {args.csv}").summary()
    client = platform_client_from_env()
    try:
        parsed = parse_opt_status_export(client.opt_status(), normaliser)
    finally:
        client.close()
    return load_consent(conn, parsed, f"opt-status export of {client.base_url}", unit="subscriber").summary()
