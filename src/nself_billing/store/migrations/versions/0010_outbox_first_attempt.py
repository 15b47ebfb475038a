"""stripe outbox: when a meter event was first sent without an answer

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Stripe deduplicates a meter event's identifier for 24 hours only. An event whose first send
left the outcome unknown (a network failure, a 5xx) may be resent safely within that window;
after it, a resend could be counted twice, so such events are set aside for ``reconcile``
(status ``unknown``) instead of being sent again. ``first_attempt_at`` keeps when that window
opened.
"""

import sqlalchemy as sa
from alembic import op

from nself_billing.store.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "billing_usage_outbox", sa.Column("first_attempt_at", UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("billing_usage_outbox", "first_attempt_at")
