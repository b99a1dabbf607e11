"""PostgreSQL for the tests that need it: where it is, and a schema of each test's own.

``CHATTHY_TEST_POSTGRES`` names the server (a ``postgresql://`` URL; ``.ci/run`` sets it).
Unset, the project machines' own is tried (:data:`DEFAULT_URL`): found, the tests run;
not found, they skip with one line saying how to run them (:data:`PG_MISSING`). Set, it
is used as it is: a server that does not answer then fails the tests rather than skipping
them, so CI cannot pass by skipping.

Each test gets a schema of its own in that database (``chatthy_t_…``, dropped after it),
named by the ``options=-c search_path=…`` of the URL it is given: a schema costs a few
milliseconds where a database costs hundreds.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from urllib.parse import quote

__all__ = ["DEFAULT_URL", "PG_MISSING", "PG_URL", "pg_schema", "schema_url"]

ENV = "CHATTHY_TEST_POSTGRES"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _missing(url: str, explicit: bool) -> str | None:
    how = f"run them with {ENV}=postgresql://USER@HOST:PORT/DB make test"
    try:
        import psycopg
    except ImportError:
        return f"PostgreSQL tests skipped: psycopg is not installed ({how})"
    if explicit:
        return None
    try:
        with psycopg.connect(url, connect_timeout=2):
            pass
    except psycopg.Error:
        return f"PostgreSQL tests skipped: no PostgreSQL answers at {url} ({how})"
    return None


PG_URL = os.environ.get(ENV) or DEFAULT_URL
PG_MISSING: str | None = _missing(PG_URL, explicit=bool(os.environ.get(ENV)))
"""None, or the one line saying why the PostgreSQL tests skip here."""


def schema_url(schema: str) -> str:
    """:data:`PG_URL` with ``schema`` first on the search path, and the schema's name as
    the sessions' application name (so that they can be found and ended)."""
    options = quote(f"-c search_path={schema}", safe="")
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options={options}&application_name={schema}"


@contextlib.asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A fresh, empty schema for one test, as the URL that uses it; dropped on leaving
    (with whatever the test made in it). The test skips, with :data:`PG_MISSING`'s one
    line, where no PostgreSQL answers."""
    import pytest

    if PG_MISSING is not None:
        pytest.skip(PG_MISSING)
    import psycopg

    name = f"chatthy_t_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield schema_url(name)
    finally:
        async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
            # servers the test left running (their fixtures end after this one) would
            # hold the schema's tables: their sessions go first
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
