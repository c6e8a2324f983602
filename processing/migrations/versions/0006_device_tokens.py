"""Device keys expire and rotate: the key's expiry, the key a rotation replaced, when last seen.

Devices enrolled before this revision get a key valid for a year from the upgrade (their tills
learn the expiry by rotating once, docs/protocol.md N).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TOKEN_TTL = timedelta(days=365)
"""processing.admin.TOKEN_TTL when this revision was written (a migration keeps its own copy)."""


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("previous_token_hash", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("previous_token_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    devices = sa.table("devices", sa.column("token_expires_at", sa.DateTime(timezone=True)))
    op.execute(devices.update().values(token_expires_at=datetime.now(UTC) + TOKEN_TTL))
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column(
            "token_expires_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index(
            batch_op.f("ix_devices_previous_token_hash"), ["previous_token_hash"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_previous_token_hash"))
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("previous_token_expires_at")
        batch_op.drop_column("previous_token_hash")
        batch_op.drop_column("token_expires_at")
