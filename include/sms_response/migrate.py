"""Versioned schema migrations (Alembic), applied by one command: ``sms-rt migrate``."""

from __future__ import annotations

import logging
from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from sms_response.db import sqlalchemy_url

log = logging.getLogger(__name__)

# Two task processes may start on a fresh schema at once; the second waits here.
_MIGRATION_LOCK_KEY = 0x5D5_0001


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("sms_response") / "migrations"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(url: str, schema: str) -> str | None:
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
            return ctx.get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, schema: str, revision: str = "head") -> str:
    """Bring ``schema`` to ``revision``; cheap when it is already there. Returns the revision."""
    cfg = _config()
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            before = MigrationContext.configure(conn, opts={"version_table_schema": schema}).get_current_revision()
            if before == head_revision() and revision == "head":
                return before
            cfg.attributes["connection"] = conn
            cfg.attributes["schema"] = schema
            command.upgrade(cfg, revision)
            after = MigrationContext.configure(conn, opts={"version_table_schema": schema}).get_current_revision()
            log.info("schema %s migrated %s -> %s", schema, before, after)
            return after or ""
    finally:
        engine.dispose()
