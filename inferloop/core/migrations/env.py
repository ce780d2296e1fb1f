"""Alembic environment: runs migrations against the URL set by inferloop.core.db.migrate."""

from alembic import context
from sqlalchemy import create_engine

from inferloop.core.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = create_engine(config.get_main_option("sqlalchemy.url"))
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


run_migrations_online()
