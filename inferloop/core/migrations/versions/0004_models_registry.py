"""model registry, dataset versions, constraint sets, batches; jobs.model_id

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("model_id", sa.String(64), nullable=True))
        b.create_index("ix_jobs_model_id", ["model_id"])
    op.create_table(
        "models",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("algorithm", sa.String(64), nullable=False, index=True),
        sa.Column("model_key", sa.String(64), nullable=False),
        sa.Column("model_type", sa.String(64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("training_job_id", sa.String(64), nullable=True),
        sa.Column("training_data_uri", sa.String(1024), nullable=True),
        sa.Column("artifact_uri", sa.String(1024), nullable=True),
        sa.Column("size_mb", sa.Float(), nullable=True),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("constraint_id", sa.String(64), nullable=True),
        sa.Column("project_id", sa.String(64), nullable=True, index=True),
        sa.Column("dataset_version_id", sa.String(64), nullable=True, index=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used", TS, nullable=True),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("project_id", sa.String(64), nullable=True, index=True),
        sa.Column("project_name", sa.String(256), nullable=True),
        sa.Column("dataset_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("uri", sa.String(1024), nullable=False),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("columns", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "constraint_sets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.Column("validation_status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("batches")
    op.drop_table("constraint_sets")
    op.drop_table("dataset_versions")
    op.drop_table("models")
    with op.batch_alter_table("jobs") as b:
        b.drop_index("ix_jobs_model_id")
        b.drop_column("model_id")
