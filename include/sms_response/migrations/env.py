"""Alembic environment: runs on the connection ``migrate.upgrade`` hands over, in the response schema."""

from alembic import context
from sqlalchemy import text

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))  # schema name is validated in Settings
connection.execute(text(f'SET search_path TO "{schema}", public'))
context.configure(connection=connection, version_table="alembic_version", version_table_schema=schema,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
