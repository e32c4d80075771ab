"""Monthly reporting: one report per lot and period, in versions; acts and lot figures."""
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.integrity import StatusEnum, freeze, freeze_children, status_column
from fc_market.models_base import utcnow

DELIVERY_MODES = {"presentiel": "Présentiel", "telephone": "Téléphone", "visio": "Visioconférence"}


class VersionStatus(StatusEnum):
    DRAFT = "draft", "Brouillon"
    SUBMITTED = "submitted", "Déposé"
    VALIDATED = "validated", "Validé"
    REJECTED = "rejected", "Rejeté"
    SUPERSEDED = "superseded", "Remplacé"

    @classmethod
    def moves(cls):
        """Allowed moves; anything else raises."""
        return {cls.DRAFT: {cls.SUBMITTED}, cls.SUBMITTED: {cls.VALIDATED, cls.REJECTED},
                cls.VALIDATED: {cls.SUPERSEDED}, cls.REJECTED: {cls.SUPERSEDED}}

    @property
    def tag(self):
        """Tag class on screen."""
        cls = type(self)
        return {cls.VALIDATED: "ok", cls.REJECTED: "bad", cls.SUBMITTED: "warn"}.get(self, "")


#: What stays writable on a submitted version: FC's decision (its status moves by
#: VersionStatus.moves)
VERSION_WRITABLE = frozenset({"decided_at", "decided_by_id", "decision_comment"})


class Report(db.Model):
    """A lot's report for one month.  Its content lives in versions."""
    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    #: ``YYYY-MM``
    period: Mapped[str] = mapped_column(sa.String(7))
    period_start: Mapped[date]
    #: Deadline from the contract's reporting day in the following month
    due_on: Mapped[date]
    #: Set by the deadline job when nothing was submitted on time
    late_since: Mapped[date | None]

    lot = relationship("Lot")
    versions = relationship("ReportVersion", back_populates="report",
                            order_by="ReportVersion.number", foreign_keys="ReportVersion.report_id")

    __table_args__ = (sa.UniqueConstraint("lot_id", "period"),
                      sa.CheckConstraint("due_on > period_start", name="due"))

    @property
    def latest(self):
        return self.versions[-1] if self.versions else None


class ReportVersion(db.Model):
    """One version of a report; immutable once submitted."""
    __tablename__ = "report_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    number: Mapped[int]
    status: Mapped[VersionStatus] = status_column(VersionStatus, 16, default=VersionStatus.DRAFT)
    #: excel or web
    source: Mapped[str] = mapped_column(sa.String(8), default="web")
    file_name: Mapped[str | None] = mapped_column(sa.String(255))
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decision_comment: Mapped[str | None] = mapped_column(sa.Text)
    #: Calendar days past the deadline at submission (feeds the late-reporting penalty)
    days_late: Mapped[int] = mapped_column(default=0)
    act_count: Mapped[int] = mapped_column(default=0)
    #: Warnings found at import, kept so both sides read the same list
    warnings: Mapped[list | None] = mapped_column(sa.JSON)
    #: How many warnings were found (the list above keeps the first MAX_STORED_ISSUES)
    warning_count: Mapped[int] = mapped_column(default=0)
    #: Version a correction replaces
    supersedes_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report_versions.id"))
    #: Optimistic lock so two reviewers cannot both decide
    version_counter: Mapped[int] = mapped_column(default=1)

    report = relationship("Report", back_populates="versions", foreign_keys=[report_id])
    figures = relationship("LotFigures", back_populates="version", uselist=False)
    created_by = relationship("User", foreign_keys=[created_by_id])
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    supersedes = relationship("ReportVersion", remote_side=[id])

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        sa.UniqueConstraint("report_id", "number"),
        VersionStatus.check_constraint(),
        sa.CheckConstraint("source IN ('excel', 'web')", name="source"),
        sa.CheckConstraint("days_late >= 0 AND act_count >= 0 AND number > 0", name="counts"),
        sa.CheckConstraint("status = 'draft' OR submitted_at IS NOT NULL", name="submitted"),
    )

    @property
    def status_label(self):
        return VersionStatus.label_of(self.status)

    @property
    def is_editable(self):
        return self.status == VersionStatus.DRAFT


class Act(db.Model):
    """One billed act for one pseudonymised beneficiary, as reported."""
    __tablename__ = "acts"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("report_versions.id"))
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    #: Pseudonymised identifier (keyed hash computed by operators); never a name
    beneficiary_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    uo_id: Mapped[int] = mapped_column(sa.ForeignKey("units_of_work.id"))
    act_date: Mapped[date]
    #: presentiel, telephone, visio
    mode: Mapped[str] = mapped_column(sa.String(12))
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"))
    #: Reference of the proof (document de synthèse, appointment record…)
    proof_ref: Mapped[str | None] = mapped_column(sa.String(100))
    sex: Mapped[str | None] = mapped_column(sa.String(1))
    age_band: Mapped[str | None] = mapped_column(sa.String(8))
    csp: Mapped[str | None] = mapped_column(sa.String(32))
    employment_status: Mapped[str | None] = mapped_column(sa.String(32))
    sector: Mapped[str | None] = mapped_column(sa.String(32))
    #: Row of the uploaded sheet, to point back at the source
    source_row: Mapped[int | None]

    uo = relationship("UnitOfWork")
    site = relationship("Site")

    __table_args__ = (
        sa.CheckConstraint("mode IN ('presentiel', 'telephone', 'visio')", name="mode"),
        sa.CheckConstraint("mode <> 'presentiel' OR site_id IS NOT NULL", name="site_in_person"),
        sa.Index("ix_acts_lot_date", "lot_id", "act_date"),
        # a version's acts, and their count by UO read from the index alone (the review
        # page counts twelve months of a lot and the month of every lot)
        sa.Index("ix_acts_version_uo", "version_id", "uo_id"),
    )


class LotFigures(db.Model):
    """Lot-level figures of a report version: surveys, complaints, UO4 actions."""
    __tablename__ = "lot_figures"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("report_versions.id"), unique=True)
    l1_respondents: Mapped[int] = mapped_column(default=0)
    l1_satisfied: Mapped[int] = mapped_column(default=0)
    l2_respondents: Mapped[int] = mapped_column(default=0)
    l2_satisfied: Mapped[int] = mapped_column(default=0)
    #: Survey six months after: respondents and those who found the CEP useful
    usefulness_respondents: Mapped[int] = mapped_column(default=0)
    usefulness_useful: Mapped[int] = mapped_column(default=0)
    complaints: Mapped[int] = mapped_column(default=0)
    uo4_actions: Mapped[str | None] = mapped_column(sa.Text)

    version = relationship("ReportVersion", back_populates="figures")

    __table_args__ = (
        sa.CheckConstraint("l1_satisfied BETWEEN 0 AND l1_respondents", name="l1"),
        sa.CheckConstraint("l2_satisfied BETWEEN 0 AND l2_respondents", name="l2"),
        sa.CheckConstraint("usefulness_useful BETWEEN 0 AND usefulness_respondents",
                           name="usefulness"),
        sa.CheckConstraint("complaints >= 0", name="complaints"),
    )


class ReportImport(db.Model):
    """Journal of every file (or web batch) submitted for import, accepted or refused.

    A refused file writes nothing in the reporting tables; only this journal line records
    the attempt (who, when, which file, every error found), written after the rollback so
    the mandataire can read the errors and FC can see the attempts.
    """
    __tablename__ = "report_imports"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    period: Mapped[str] = mapped_column(sa.String(7))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: web or cli
    channel: Mapped[str] = mapped_column(sa.String(8), default="web")
    file_name: Mapped[str | None] = mapped_column(sa.String(255))
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    file_size: Mapped[int | None]
    accepted: Mapped[bool] = mapped_column(default=False)
    #: The draft version the file filled (accepted files only)
    version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report_versions.id"))
    row_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    warning_count: Mapped[int] = mapped_column(default=0)
    #: [{"sheet", "row", "column", "code", "message"}], the first MAX_STORED_ISSUES
    errors: Mapped[list | None] = mapped_column(sa.JSON)
    warnings: Mapped[list | None] = mapped_column(sa.JSON)
    duration_ms: Mapped[int | None]

    lot = relationship("Lot")
    user = relationship("User")
    version = relationship("ReportVersion")

    __table_args__ = (
        sa.CheckConstraint("channel IN ('web', 'cli')", name="channel"),
        sa.CheckConstraint("NOT accepted OR error_count = 0", name="accepted_clean"),
        sa.Index("ix_report_imports_lot_period", "lot_id", "period"),
    )


class AlertStatus(StatusEnum):
    OPEN = "open", "À examiner"
    CONFIRMED = "confirmed", "Double financement confirmé"
    DISMISSED = "dismissed", "Classée sans suite"

    @classmethod
    def moves(cls):
        """A decision can be revised (or the alert reopened) while the finding stands."""
        return {cls.OPEN: {cls.CONFIRMED, cls.DISMISSED},
                cls.CONFIRMED: {cls.OPEN, cls.DISMISSED},
                cls.DISMISSED: {cls.OPEN, cls.CONFIRMED}}

    @property
    def tag(self):
        return {type(self).CONFIRMED: "bad", type(self).OPEN: "warn"}.get(self, "")


class DoubleFinancingAlert(db.Model):
    """The same pseudonymised beneficiary billed a CEP level in two lots inside the UO's
    window.  FC-only: never shown to a mandataire (it names another lot's data)."""
    __tablename__ = "double_financing_alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Identity of the finding (beneficiary, lot pair, level, both dates): found once
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    beneficiary_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    level: Mapped[int]
    #: The lot whose submission revealed the overlap, and its act
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("report_versions.id"))
    uo_code: Mapped[str] = mapped_column(sa.String(8))
    act_date: Mapped[date]
    #: The other lot, where the same beneficiary already had an act of the same level
    other_lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    other_version_id: Mapped[int] = mapped_column(sa.ForeignKey("report_versions.id"))
    other_uo_code: Mapped[str] = mapped_column(sa.String(8))
    other_act_date: Mapped[date]
    window_months: Mapped[int]
    status: Mapped[AlertStatus] = status_column(AlertStatus, 12, default=AlertStatus.OPEN)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    #: Optimistic lock: two managers cannot both decide
    version_counter: Mapped[int] = mapped_column(default=1)

    lot = relationship("Lot", foreign_keys=[lot_id])
    other_lot = relationship("Lot", foreign_keys=[other_lot_id])
    version = relationship("ReportVersion", foreign_keys=[version_id])
    other_version = relationship("ReportVersion", foreign_keys=[other_version_id])
    decided_by = relationship("User")

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        AlertStatus.check_constraint(),
        sa.CheckConstraint("lot_id <> other_lot_id", name="two_lots"),
    )

    @property
    def status_label(self):
        return AlertStatus.label_of(self.status)


# ---------------------------------------------------------------- what stays as submitted

def _submitted(version, old):
    return old("status") not in (None, VersionStatus.DRAFT)


def _version_of(session, row):
    return session.get(ReportVersion, row.version_id)


freeze(ReportVersion, when=_submitted, writable=VERSION_WRITABLE,
       describe=lambda v: f"La version {v.number} du reporting (n° {v.id})")
freeze_children(Act, ReportVersion, _version_of, "ses actes")
freeze_children(LotFigures, ReportVersion, _version_of, "ses chiffres")
