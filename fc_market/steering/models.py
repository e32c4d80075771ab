"""Steering: per-lot monthly aggregates, flags with their history, monthly steering packs."""
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.models_base import utcnow

VALUE = sa.Numeric(14, 4)


class LotMonthStat(db.Model):
    """Pre-aggregated figures of one lot and month, from validated report versions only.

    Rebuilt for a lot whenever one of its versions is validated or superseded, a control
    campaign closes, or on demand (``flask steering rebuild``); dashboards read only this
    table.  Cohort counters (``*_cohort`` and what followed) are NULL while the cohort is
    not mature (its follow-up horizon goes beyond the lot's latest validated month).
    """
    __tablename__ = "steering_lot_months"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    #: ``YYYY-MM``
    period: Mapped[str] = mapped_column(sa.String(7))
    year: Mapped[int]
    month: Mapped[int]
    #: Acts of the month: total, per UO code, remote (telephone or visio)
    acts: Mapped[int] = mapped_column(default=0)
    acts_by_uo: Mapped[dict | None] = mapped_column(sa.JSON)
    remote_acts: Mapped[int] = mapped_column(default=0)
    #: Distinct beneficiaries with an act in the month
    beneficiaries: Mapped[int] = mapped_column(default=0)
    #: Entries: beneficiaries whose first level-1 or level-2 act of the year is in this month
    entries: Mapped[int] = mapped_column(default=0)
    #: Days from aiguillage (UO0) to level 1, for level-1 acts of the month: {days: count}
    delay_hist: Mapped[dict | None] = mapped_column(sa.JSON)
    delay_count: Mapped[int] = mapped_column(default=0)
    #: UO0 of the month / of which no level-1 or level-2 act followed (information only)
    uo0_cohort: Mapped[int | None]
    uo0_no_followup: Mapped[int | None]
    #: Level-1 acts of the month / of which no level 2 followed (abandonment)
    l1_cohort: Mapped[int | None]
    l1_no_level2: Mapped[int | None]
    #: Level-2 starts of the month / of which started directly with implementation support
    l2_starts: Mapped[int] = mapped_column(default=0)
    l2_starts_implementation: Mapped[int] = mapped_column(default=0)
    #: Project UO (level 2, construction) acts of the month / short pathways among them
    project_acts: Mapped[int] = mapped_column(default=0)
    project_short: Mapped[int] = mapped_column(default=0)
    #: Project acts of the month followed by implementation support (cohort, mature only)
    project_cohort: Mapped[int | None]
    project_followed: Mapped[int | None]
    #: Profile of the month's entries: {"csp": {...}, "sector": {...}, "sex": {...}, "age_band": {...}}
    profile: Mapped[dict | None] = mapped_column(sa.JSON)
    #: Lot figures of the validated version (surveys, complaints)
    l1_respondents: Mapped[int] = mapped_column(default=0)
    l1_satisfied: Mapped[int] = mapped_column(default=0)
    l2_respondents: Mapped[int] = mapped_column(default=0)
    l2_satisfied: Mapped[int] = mapped_column(default=0)
    usefulness_respondents: Mapped[int] = mapped_column(default=0)
    usefulness_useful: Mapped[int] = mapped_column(default=0)
    complaints: Mapped[int] = mapped_column(default=0)
    #: Service-fait control items of this month judged in closed campaigns
    csf_judged: Mapped[int] = mapped_column(default=0)
    csf_nonconforming: Mapped[int] = mapped_column(default=0)
    #: A validated version exists for the month; days late of its first submission
    validated: Mapped[bool] = mapped_column(default=False)
    days_late: Mapped[int | None]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)

    lot = relationship("Lot")

    __table_args__ = (sa.UniqueConstraint("lot_id", "period"),
                      sa.CheckConstraint("month BETWEEN 1 AND 12", name="month"))


class Flag(db.Model):
    """A rule breached by a lot: open from ``opened_on`` until the value recovers."""
    __tablename__ = "steering_flags"
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(sa.ForeignKey("flag_rules.id"))
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    opened_on: Mapped[date]
    cleared_on: Mapped[date | None]
    #: Value and threshold when the flag opened, and at the latest evaluation
    opening_value: Mapped[Decimal] = mapped_column(VALUE)
    value: Mapped[Decimal] = mapped_column(VALUE)
    threshold: Mapped[Decimal] = mapped_column(VALUE)
    sample: Mapped[int | None]
    #: Plain-French reading of the value (window, counts)
    detail: Mapped[str | None] = mapped_column(sa.Text)
    evaluated_on: Mapped[date]

    rule = relationship("FlagRule")
    lot = relationship("Lot")
    readings = relationship("FlagReading", back_populates="flag", order_by="FlagReading.id",
                            cascade="all, delete-orphan")

    __table_args__ = (
        sa.Index("uq_steering_flags_open", "rule_id", "lot_id", unique=True,
                 sqlite_where=sa.text("cleared_on IS NULL"),
                 postgresql_where=sa.text("cleared_on IS NULL")),
        sa.CheckConstraint("cleared_on IS NULL OR cleared_on >= opened_on", name="dates"),
    )

    @property
    def is_open(self):
        return self.cleared_on is None


class FlagReading(db.Model):
    """One evaluation of a flag's indicator (kept when the value changes): the trend."""
    __tablename__ = "steering_flag_readings"
    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(sa.ForeignKey("steering_flags.id"), index=True)
    read_on: Mapped[date]
    value: Mapped[Decimal] = mapped_column(VALUE)
    sample: Mapped[int | None]
    breached: Mapped[bool]

    flag = relationship("Flag", back_populates="readings")


class SteeringPack(db.Model):
    """A monthly steering pack (Excel workbook), generated by the job or on demand."""
    __tablename__ = "steering_packs"
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Month the pack reports on (``YYYY-MM``, the latest validated month at generation)
    period: Mapped[str] = mapped_column(sa.String(7))
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    generated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: job or demand
    trigger: Mapped[str] = mapped_column(sa.String(8))
    filename: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)

    generated_by = relationship("User")

    __table_args__ = (sa.CheckConstraint("trigger IN ('job', 'demand')", name="trigger"),)


class SteeringRefresh(db.Model):
    """A lot whose aggregates must be rebuilt by the ``steering.refresh`` job (large lots:
    rebuilding inside the validation itself would make the reviewer wait)."""
    __tablename__ = "steering_refresh_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), unique=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(sa.String(64))
