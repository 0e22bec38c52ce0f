"""Write the brand's customer table (``customers.customer_records``) into the response PostgreSQL database.

The table is replaced in one transaction (schema created if missing, table dropped and created, rows loaded
with COPY), so a reader sees the old table or the new one, never half of either. A view or other object that
depends on the table stops the replace: it is named and nothing changes (dropping it silently would lose the
user's object).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from .customers import TABLE_COLUMNS, Customer, customer_records
from .state import PlatformState

CREATE_SCHEMA = sql.SQL("CREATE SCHEMA IF NOT EXISTS {schema}")
DROP_TABLE = sql.SQL("DROP TABLE IF EXISTS {schema}.{table}")
CREATE_TABLE = sql.SQL(
    "CREATE TABLE {schema}.{table} ("
    " customer_id text PRIMARY KEY,"
    " phone text NOT NULL,"
    " first_name text,"
    " last_name text,"
    " email text,"
    " postal_code text,"
    " birthday date,"
    " loyalty_tier text NOT NULL,"
    " preferred_store text,"
    " signup_date date NOT NULL)"
)
COPY_ROWS = sql.SQL("COPY {schema}.{table} ({columns}) FROM STDIN")


class CustomerTableError(RuntimeError):
    """The customer table cannot be replaced; nothing was changed."""


def write_customer_table(conn: psycopg.Connection[Any], state: PlatformState, *, schema: str = "crm",
                         table: str = "customers") -> list[Customer]:
    """Replace ``schema.table`` with the customers of ``state``; returns the customers written."""
    customers = customer_records(state)
    names = {"schema": sql.Identifier(schema), "table": sql.Identifier(table)}
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in TABLE_COLUMNS)
    try:
        with conn.transaction():
            conn.execute(CREATE_SCHEMA.format(**names))
            conn.execute(DROP_TABLE.format(**names))
            conn.execute(CREATE_TABLE.format(**names))
            with conn.cursor() as cur, cur.copy(COPY_ROWS.format(columns=columns, **names)) as copy:
                for customer in customers:
                    copy.write_row(customer.row())
    except psycopg.errors.DependentObjectsStillExist as exc:
        detail = exc.diag.message_detail or exc.diag.message_primary or str(exc)
        raise CustomerTableError(f"cannot replace {schema}.{table}: {detail}; drop or repoint those objects, "
                                 "or write another table (--table). Nothing was changed") from exc
    return customers
