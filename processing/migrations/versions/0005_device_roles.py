"""Device roles: a till, a store tablet (kiosk) or a consultant's desk; each reaches only its routes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="till")
        )
    with op.batch_alter_table("enrolment_codes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="till")
        )


def downgrade() -> None:
    with op.batch_alter_table("enrolment_codes", schema=None) as batch_op:
        batch_op.drop_column("role")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("role")
