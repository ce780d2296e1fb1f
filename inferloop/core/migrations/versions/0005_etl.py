"""ETL (issue 15): account logins (email + scrypt hash), connectors (credentials encrypted), pipelines

Revision ID: etl_0001
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "etl_0001"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_logins",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "etl_connectors",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("last_test", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "etl_pipelines",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=True),
        sa.Column("deployment_id", sa.String(64), nullable=True),
        sa.Column("source_connector_id", sa.String(64), nullable=True, index=True),
        sa.Column("target_connector_id", sa.String(64), nullable=True, index=True),
        sa.Column("environment", sa.String(64), nullable=True),
        sa.Column("deployed_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("etl_pipelines")
    op.drop_table("etl_connectors")
    op.drop_table("account_logins")
