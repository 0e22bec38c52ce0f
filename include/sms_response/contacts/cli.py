"""``sms-rt contacts load``: contacts from a CSV file, table, view or saved query, all or nothing.

    sms-rt contacts load --csv FILE | --table NAME | --view NAME | --query-file FILE
                         [--custom-field NAME …] [--platform-fields]

``--custom-field`` names the platform's custom fields (a column matching none is refused);
``--platform-fields`` reads them from the platform (``SMS_RT_PLATFORM_URL``, ``SMS_RT_PLATFORM_TOKEN``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import psycopg

from sms_response.contacts.sources import SourceRows, csv_source, query_source, relation_source
from sms_response.contacts.sync import load_contacts
from sms_response.phones import PhoneNormaliser
from sms_response.platform_env import platform_client_from_env
from sms_response.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["load"])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, metavar="FILE", help="a CSV file with a header row")
    source.add_argument("--table", metavar="NAME", help="a table of the response database (NAME or SCHEMA.NAME)")
    source.add_argument("--view", metavar="NAME", help="a view of the response database (NAME or SCHEMA.NAME)")
    source.add_argument("--query-file", type=Path, metavar="FILE", help="a saved query: one SELECT, run read-only")
    parser.add_argument("--custom-field", action="append", default=None, metavar="NAME",
                        help="a custom field the platform has (repeat); other custom columns are refused")
    parser.add_argument("--platform-fields", action="store_true",
                        help="read the platform's custom fields from the platform (SMS_RT_PLATFORM_URL/_TOKEN)")


def _source(conn: psycopg.Connection[Any], args: argparse.Namespace) -> SourceRows:
    if args.csv is not None:
        return csv_source(args.csv)
    if args.table is not None:
        return relation_source(conn, args.table, "table")
    if args.view is not None:
        return relation_source(conn, args.view, "view")
    return query_source(conn, args.query_file)


def run(conn: psycopg.Connection[Any], settings: Settings, args: argparse.Namespace) -> str:
    known: list[str] | None = list(args.custom_field) if args.custom_field else None
    if args.platform_fields:
        client = platform_client_from_env()
        try:
            known = [*(known or []), *client.contact_fields()["custom"]]
        finally:
            client.close()
    result = load_contacts(conn, _source(conn, args), known_custom=known,
                           normaliser=PhoneNormaliser(settings.default_region))
    return result.summary()
