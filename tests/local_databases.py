"""Moved to tests/support/local_databases.py. This name stays only for bench/scheduler.py, which
imports `tests.local_databases`; once it imports `tests.support.local_databases`, delete this file."""
from tests.support.local_databases import mariadb_store, mariadb_store_here, postgres_database  # noqa: F401
