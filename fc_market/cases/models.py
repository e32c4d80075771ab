"""Flag cases: what FC and the operator did about a steering flag."""
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.integrity import StatusEnum, status_column
from fc_market.models_base import utcnow
from fc_market.uo4.models import enum_check


class CaseStatus(StatusEnum):
    NEW = "new", "Nouveau"
    ACKNOWLEDGED = "acknowledged", "Pris en compte par FC"
    PLAN_REQUESTED = "plan_requested", "Plan d'action demandé"
    PLAN_SUBMITTED = "plan_submitted", "Plan d'action remis"
    FOLLOWED = "followed", "Plan suivi"
    CLOSED = "closed", "Clos"

    @classmethod
    def moves(cls):
        """Allowed moves, written once.  FC may close at any step (e.g. recovered before the
        plan); it may ask a plan again when the one submitted does not do."""
        return {cls.NEW: {cls.ACKNOWLEDGED, cls.CLOSED},
                cls.ACKNOWLEDGED: {cls.PLAN_REQUESTED, cls.CLOSED},
                cls.PLAN_REQUESTED: {cls.PLAN_SUBMITTED, cls.CLOSED},
                cls.PLAN_SUBMITTED: {cls.FOLLOWED, cls.PLAN_REQUESTED, cls.CLOSED},
                cls.FOLLOWED: {cls.CLOSED}}


CASE_LABELS = CaseStatus.labels()
OPEN_STATUSES = tuple(s for s in CaseStatus if s != CaseStatus.CLOSED)


def case_move(current, new):
    return CaseStatus.check(current, new)


class CloseReason(StrEnum):
    RECOVERED = "recovered"
    PLAN_DONE = "plan_done"
    ACCEPTED = "accepted"


CLOSE_LABELS = {"recovered": "Indicateur redressé", "plan_done": "Plan d'action réalisé",
                "accepted": "Accepté en l'état"}


class FlagCase(db.Model):
    """A flag FC opened a case on: its status, the action plan's deadline, how it closed.
    The readings stay on the flag; the thread and the decisions are :class:`CaseEvent`."""
    __tablename__ = "flag_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(sa.ForeignKey("steering_flags.id"), unique=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    status: Mapped[CaseStatus] = status_column(CaseStatus, 16, default=CaseStatus.NEW)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Date by which the operator must submit its action plan (while one is requested)
    plan_due_on: Mapped[date | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(sa.String(12))
    #: Optimistic lock: two people cannot move the same case at once
    version_counter: Mapped[int] = mapped_column(default=1)

    flag = relationship("Flag")
    lot = relationship("Lot")
    events = relationship("CaseEvent", back_populates="case", order_by="CaseEvent.id")

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        CaseStatus.check_constraint(),
        enum_check(CloseReason, "close_reason", "close_reason"),
        sa.CheckConstraint("(status = 'closed') = (close_reason IS NOT NULL)", name="closed"),
        sa.CheckConstraint("status <> 'plan_requested' OR plan_due_on IS NOT NULL",
                           name="plan_due"),
    )

    @property
    def status_label(self):
        return CaseStatus.label_of(self.status)

    @property
    def close_label(self):
        return CLOSE_LABELS.get(self.close_reason, "")

    @property
    def is_open(self):
        return self.status != CaseStatus.CLOSED

    def days_overdue(self, today):
        if self.status != CaseStatus.PLAN_REQUESTED or self.plan_due_on is None:
            return 0
        return max(0, (today - self.plan_due_on).days)


class CaseEvent(db.Model):
    """One step of a case: a decision (status move), a message, an internal FC note."""
    __tablename__ = "flag_case_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("flag_cases.id"), index=True)
    #: opened, acknowledged, plan_requested, plan_submitted, followed, closed, message, note
    kind: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[str | None] = mapped_column(sa.Text)
    #: FC's internal comment: never shown to the mandataire
    internal: Mapped[bool] = mapped_column(default=False)
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str | None] = mapped_column(sa.String(16))
    plan_due_on: Mapped[date | None]
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case = relationship("FlagCase", back_populates="events")
    author = relationship("User")
    files = relationship("CaseFile", back_populates="event", order_by="CaseFile.id")

    __table_args__ = (
        sa.CheckConstraint("kind IN ('opened', 'acknowledged', 'plan_requested', "
                           "'plan_submitted', 'followed', 'closed', 'message', 'note')",
                           name="kind"),
        sa.CheckConstraint("NOT internal OR kind IN ('note', 'opened', 'acknowledged')",
                           name="internal_kind"),
    )


class CaseFile(db.Model):
    """A file joined to a case step (the action plan), in the checked storage."""
    __tablename__ = "flag_case_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("flag_case_events.id"), index=True)
    storage_key: Mapped[str] = mapped_column(sa.String(80))
    mimetype: Mapped[str] = mapped_column(sa.String(40))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    size: Mapped[int]

    event = relationship("CaseEvent", back_populates="files")
