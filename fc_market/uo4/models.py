"""UO4 (means, quality and steering lump sum): the lot's yearly plan and yearly statement of
use, in immutable versions, with their documents and review thread."""
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.integrity import StatusEnum, freeze, freeze_children, status_column
from fc_market.models_base import MONEY, utcnow


def enum_check(enum, column, name):
    """The CHECK constraint listing a plain enum's values (kinds, reasons: not statuses)."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return sa.CheckConstraint(f"{column} IN ({values})", name=name)


class FilingKind(StrEnum):
    PLAN = "plan"
    STATEMENT = "statement"


KIND_LABELS = {FilingKind.PLAN: "Plan prévisionnel", FilingKind.STATEMENT: "Bilan d'utilisation"}


class Uo4Filing(db.Model):
    """A lot's plan (or statement of use) for one year; its content lives in versions."""
    __tablename__ = "uo4_filings"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    year: Mapped[int]
    #: plan or statement
    kind: Mapped[str] = mapped_column(sa.String(10))
    #: Deadline from the contract's ``[uo4]`` section
    due_on: Mapped[date]

    lot = relationship("Lot")
    versions = relationship("Uo4Version", back_populates="filing", order_by="Uo4Version.number")

    __table_args__ = (sa.UniqueConstraint("lot_id", "year", "kind"),
                      enum_check(FilingKind, "kind", "kind"))

    @property
    def kind_label(self):
        return KIND_LABELS[FilingKind(self.kind)]


class Uo4Status(StatusEnum):
    DRAFT = "draft", "Brouillon"
    SUBMITTED = "submitted", "Déposé"
    QUESTIONED = "questioned", "Questions de FC"
    ACCEPTED = "accepted", "Accepté"
    REJECTED = "rejected", "Rejeté"
    SUPERSEDED = "superseded", "Remplacé"

    @classmethod
    def moves(cls):
        """Allowed moves, written once: FC questions a submitted version, the mandataire's
        answer puts it back under review; an accepted version is superseded only by a newer
        accepted one."""
        return {cls.DRAFT: {cls.SUBMITTED},
                cls.SUBMITTED: {cls.ACCEPTED, cls.REJECTED, cls.QUESTIONED},
                cls.QUESTIONED: {cls.SUBMITTED, cls.ACCEPTED, cls.REJECTED},
                cls.ACCEPTED: {cls.SUPERSEDED}, cls.REJECTED: {cls.SUPERSEDED}}


#: Versions under FC's review
UNDER_REVIEW = (Uo4Status.SUBMITTED, Uo4Status.QUESTIONED)


def uo4_move(current, new):
    return Uo4Status.check(current, new)


class Uo4Version(db.Model):
    """One version of a plan or statement; immutable once submitted."""
    __tablename__ = "uo4_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    filing_id: Mapped[int] = mapped_column(sa.ForeignKey("uo4_filings.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    number: Mapped[int]
    status: Mapped[Uo4Status] = status_column(Uo4Status, 12, default=Uo4Status.DRAFT)
    #: excel or web
    source: Mapped[str] = mapped_column(sa.String(8), default="web")
    file_name: Mapped[str | None] = mapped_column(sa.String(255))
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: Sum of the lines (kept so lists read one column)
    total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Calendar days past the deadline at the first submission
    days_late: Mapped[int] = mapped_column(default=0)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decision_comment: Mapped[str | None] = mapped_column(sa.Text)
    #: Optimistic lock so two reviewers cannot both decide
    version_counter: Mapped[int] = mapped_column(default=1)

    filing = relationship("Uo4Filing", back_populates="versions")
    lines = relationship("Uo4Line", back_populates="version", order_by="Uo4Line.position",
                         cascade="all, delete-orphan")
    documents = relationship("Uo4Document", back_populates="version", order_by="Uo4Document.id",
                             cascade="all, delete-orphan")
    messages = relationship("Uo4Message", back_populates="version", order_by="Uo4Message.id")
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        sa.UniqueConstraint("filing_id", "number"),
        Uo4Status.check_constraint(),
        sa.CheckConstraint("source IN ('excel', 'web')", name="source"),
        sa.CheckConstraint("number > 0 AND days_late >= 0 AND total >= 0", name="counts"),
        sa.CheckConstraint("status = 'draft' OR submitted_at IS NOT NULL", name="submitted"),
    )

    @property
    def status_label(self):
        return Uo4Status.label_of(self.status)

    @property
    def is_editable(self):
        return self.status == Uo4Status.DRAFT


class Uo4Line(db.Model):
    """An amount of a category spent (or planned) by one groupement member."""
    __tablename__ = "uo4_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("uo4_versions.id"), index=True)
    position: Mapped[int]
    #: Category code from the contract's ``[uo4].categories``
    category: Mapped[str] = mapped_column(sa.String(40))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("operator_members.id"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    description: Mapped[str | None] = mapped_column(sa.String(500))
    #: Row of the uploaded sheet
    source_row: Mapped[int | None]

    version = relationship("Uo4Version", back_populates="lines")
    member = relationship("OperatorMember")

    __table_args__ = (sa.UniqueConstraint("version_id", "position"),
                      sa.CheckConstraint("amount >= 0", name="amount"))


class Uo4Document(db.Model):
    """A supporting document (invoice, pay totals, contract) of a statement, in the checked
    file storage."""
    __tablename__ = "uo4_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("uo4_versions.id"), index=True)
    category: Mapped[str] = mapped_column(sa.String(40))
    storage_key: Mapped[str] = mapped_column(sa.String(80))
    mimetype: Mapped[str] = mapped_column(sa.String(40))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    size: Mapped[int]
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    version = relationship("Uo4Version", back_populates="documents")


class Uo4Message(db.Model):
    """The review thread of a version: FC's questions and the mandataire's answers."""
    __tablename__ = "uo4_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("uo4_versions.id"), index=True)
    #: question (FC) or answer (mandataire)
    kind: Mapped[str] = mapped_column(sa.String(10))
    body: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    version = relationship("Uo4Version", back_populates="messages")
    author = relationship("User")

    __table_args__ = (sa.CheckConstraint("kind IN ('question', 'answer')", name="kind"),)


# ---------------------------------------------------------------- what stays as submitted

#: What stays writable on a submitted version: FC's decision (its status moves by
#: Uo4Status.moves); the thread is its own table
UO4_WRITABLE = frozenset({"decided_at", "decided_by_id", "decision_comment"})


def _submitted(version, old):
    return old("status") not in (None, Uo4Status.DRAFT)


def _version_of(session, row):
    if row.version_id is None:  # appended to ``version.lines`` / ``documents``, not flushed yet
        return row.version
    return session.get(Uo4Version, row.version_id)


freeze(Uo4Version, when=_submitted, writable=UO4_WRITABLE,
       describe=lambda v: f"La version {v.number} du document UO4 (n° {v.id})")
freeze_children(Uo4Line, Uo4Version, _version_of, "ses lignes")
freeze_children(Uo4Document, Uo4Version, _version_of, "ses justificatifs")
