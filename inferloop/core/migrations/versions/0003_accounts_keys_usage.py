"""accounts, hashed API keys, rate-limit counters; usage columns on jobs

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("rows_generated", sa.Integer(), nullable=True))
        b.add_column(sa.Column("compute_seconds", sa.Float(), nullable=True))
        b.add_column(sa.Column("finished_at", TS, nullable=True))
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
    )
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
    op.drop_table("api_keys")
    op.drop_table("accounts")
    with op.batch_alter_table("jobs") as b:
        for c in ("finished_at", "compute_seconds", "rows_generated"):
            b.drop_column(c)
