"""`python -m inferloop.runtime.prefect_server [args of prefect server start]`: Prefect's server with a short SQLite lock wait.

Prefect 3.8.8 sets `PRAGMA busy_timeout = 60000` on every connection to its SQLite database (hard-coded in
`prefect/server/database/configurations.py`). On the embedded platform a write now and then waited the full
60 s and the whole server stalled meanwhile: seen about once per full test run, right after a worker's Pending
transition, with the waiting write (`mark_work_queues_ready`) failing at 60.2 s and everything resuming at
once. A wait that ends exactly when the waiter gives up is a wait-for cycle, not a slow writer, so a shorter
wait only breaks the cycle sooner. Prefect answers a "database is locked" request with 503, which its clients
retry, and retries its background tasks; so the server runs with INFERLOOP_PREFECT_SQLITE_BUSY_SECONDS (default
5) instead. Everything else is `prefect server start` itself, run in this process.
"""

from __future__ import annotations

import os
import runpy
import sys

BUSY_ENV = "INFERLOOP_PREFECT_SQLITE_BUSY_SECONDS"


def shorten_sqlite_busy_timeout(seconds: float) -> None:
    """Make every new connection of Prefect's SQLite configuration wait at most `seconds` for a lock."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    setup = AioSqliteConfiguration.setup_sqlite
    if getattr(setup, "inferloop_busy_seconds", None) is not None:
        return

    def setup_sqlite(self, conn, record) -> None:  # noqa: ANN001  (SQLAlchemy's connect-event signature)
        setup(self, conn, record)
        cursor = conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)};")
        cursor.close()

    setup_sqlite.inferloop_busy_seconds = seconds
    AioSqliteConfiguration.setup_sqlite = setup_sqlite


def main() -> None:
    seconds = float(os.environ.get(BUSY_ENV) or 5)
    if seconds > 0:
        shorten_sqlite_busy_timeout(seconds)
    sys.argv = ["prefect", "server", "start", *sys.argv[1:]]
    runpy.run_module("prefect", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
