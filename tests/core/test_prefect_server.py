"""The embedded Prefect server's SQLite connections wait at most INFERLOOP_PREFECT_SQLITE_BUSY_SECONDS for a lock."""

from __future__ import annotations

import sqlite3

from inferloop.runtime.prefect_server import shorten_sqlite_busy_timeout


def test_prefect_sqlite_connections_get_the_short_busy_timeout(tmp_path):
    from prefect.server.database.configurations import AioSqliteConfiguration

    shorten_sqlite_busy_timeout(5)
    shorten_sqlite_busy_timeout(7)  # once only: the first patch stays
    conn = sqlite3.connect(tmp_path / "prefect.db")
    AioSqliteConfiguration.setup_sqlite(AioSqliteConfiguration(f"sqlite+aiosqlite:///{tmp_path}/prefect.db"),
                                        conn, None)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # Prefect's own set-up still runs


def test_the_platform_runs_it(prefect_platform):
    import psutil

    server = psutil.Process(prefect_platform.procs["prefect-server"].pid)
    assert "inferloop.runtime.prefect_server" in server.cmdline()
