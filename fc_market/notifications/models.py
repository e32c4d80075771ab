"""The in-app outbox: every notification lands here, and goes by SMTP when configured."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.models_base import utcnow


class Notification(db.Model):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: Recipient user; a lot-wide message to the mandataire(s) sets lot_id and audience
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    #: mandataire (the lot's mandataires), fc (FC staff of the given role) or user
    audience: Mapped[str] = mapped_column(sa.String(16))
    #: For audience fc: which role (manager, finance); empty for all FC staff
    role: Mapped[str | None] = mapped_column(sa.String(16))
    #: Short machine kind, e.g. reporting.reminder
    kind: Mapped[str] = mapped_column(sa.String(64))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    #: Path inside the app the message is about
    link: Mapped[str | None] = mapped_column(sa.String(300))
    #: Idempotence key: the same key is never notified twice
    dedup_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    emailed_at: Mapped[datetime | None]
    email_error: Mapped[str | None] = mapped_column(sa.String(300))
    read_at: Mapped[datetime | None]

    user = relationship("User")
    lot = relationship("Lot")

    __table_args__ = (
        sa.CheckConstraint("audience IN ('mandataire', 'fc', 'user')", name="audience"),
        sa.CheckConstraint("audience <> 'mandataire' OR lot_id IS NOT NULL", name="lot"),
        sa.CheckConstraint("audience <> 'user' OR user_id IS NOT NULL", name="user"),
    )
