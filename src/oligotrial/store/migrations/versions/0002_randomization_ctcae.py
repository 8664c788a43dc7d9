"""Randomization (concealed lists, minimization streams, allocations), CTCAE terminology imports and terms,
radiotherapy plans and courses (issue 7).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ctcae_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("terms", sa.Integer(), nullable=False),
        sa.Column("socs", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.Integer(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["imported_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "randomization_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seed", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ctcae_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("meddra_code", sa.Integer(), nullable=True),
        sa.Column("soc", sa.String(length=200), nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("term_key", sa.String(length=200), nullable=False),
        sa.Column("grade_1", sa.Text(), nullable=True),
        sa.Column("grade_2", sa.Text(), nullable=True),
        sa.Column("grade_3", sa.Text(), nullable=True),
        sa.Column("grade_4", sa.Text(), nullable=True),
        sa.Column("grade_5", sa.Text(), nullable=True),
        sa.Column("definition", sa.Text(), nullable=True),
        sa.Column("navigational_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["ctcae_imports.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("term_key", name="uq_ctcae_terms_key"),
    )
    op.create_index(op.f("ix_ctcae_terms_soc"), "ctcae_terms", ["soc"], unique=False)

    op.create_table(
        "radiotherapy_courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("lesion_id", sa.String(length=64), nullable=False),
        sa.Column("course", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id", "lesion_id", name="uq_radiotherapy_courses_lesion"),
    )
    op.create_index(
        op.f("ix_radiotherapy_courses_subject_id"), "radiotherapy_courses", ["subject_id"], unique=False
    )

    op.create_table(
        "radiotherapy_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("chemo_immunotherapy_end", sa.Date(), nullable=False),
        sa.Column("maintenance_restart", sa.Date(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("check_result", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id"),
    )
    op.create_index(op.f("ix_radiotherapy_plans_site_id"), "radiotherapy_plans", ["site_id"], unique=False)

    op.create_table(
        "randomization_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=32), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("block_size", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["randomization_lists.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stratum", "position", name="uq_randomization_entries_slot"),
        sa.UniqueConstraint("subject_id"),
    )
    op.create_index(
        op.f("ix_randomization_entries_list_id"), "randomization_entries", ["list_id"], unique=False
    )

    op.create_table(
        "randomizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("arm", sa.String(length=32), nullable=False),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.Column("covariates", sa.JSON(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("list_position", sa.Integer(), nullable=True),
        sa.Column("draw", sa.Float(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("randomized_by", sa.Integer(), nullable=True),
        sa.Column("randomized_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["randomization_entries.id"],
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["randomization_lists.id"],
        ),
        sa.ForeignKeyConstraint(
            ["randomized_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id"),
        sa.UniqueConstraint("request_id"),
        sa.UniqueConstraint("sequence"),
        sa.UniqueConstraint("subject_id"),
    )
    op.create_index(op.f("ix_randomizations_site_id"), "randomizations", ["site_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_randomizations_site_id"), table_name="randomizations")

    op.drop_table("randomizations")
    op.drop_index(op.f("ix_randomization_entries_list_id"), table_name="randomization_entries")

    op.drop_table("randomization_entries")
    op.drop_index(op.f("ix_radiotherapy_plans_site_id"), table_name="radiotherapy_plans")

    op.drop_table("radiotherapy_plans")
    op.drop_index(op.f("ix_radiotherapy_courses_subject_id"), table_name="radiotherapy_courses")

    op.drop_table("radiotherapy_courses")
    op.drop_index(op.f("ix_ctcae_terms_soc"), table_name="ctcae_terms")

    op.drop_table("ctcae_terms")
    op.drop_table("randomization_lists")
    op.drop_table("ctcae_imports")
