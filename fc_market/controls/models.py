"""Service-fait control campaigns (CSF): the sample drawn, the mandataire's answers and proofs,
FC's verdicts and the outcome applied to the payable statements."""
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.integrity import StatusEnum, classproperty, status_column
from fc_market.models_base import MONEY, RATE, utcnow
from fc_market.market.terms import DEFAULT_NONCONFORMITY_REASONS, lot_terms


class CampaignStatus(StatusEnum):
    OPEN = "open", "En cours"
    CLOSED = "closed", "Clôturée"

    @classmethod
    def moves(cls):
        return {cls.OPEN: {cls.CLOSED}}


class Verdict(StatusEnum):
    PENDING = "pending", "À examiner"
    CONFORMING = "conforme", "Conforme"
    NONCONFORMING = "non_conforme", "Non conforme"
    UNPROVEN = "non_justifie", "Non justifié"

    #: Verdicts FC can give (pending is the absence of one)
    CHOICES = classproperty(lambda cls: (cls.CONFORMING, cls.NONCONFORMING, cls.UNPROVEN))

    @classmethod
    def moves(cls):
        """Any verdict while the campaign is open (a verdict can be revised), never back to
        pending."""
        return {v: set(cls.CHOICES) - {v} for v in cls}

    @property
    def tag(self):
        """Tag class on screen."""
        cls = type(self)
        return {cls.CONFORMING: "ok", cls.NONCONFORMING: "bad", cls.UNPROVEN: "warn"}.get(self, "")


#: Default reasons of non-conformity (the contract's ``controls.nonconformity_reasons``
#: replaces them; read them through ``lot_terms(lot).controls.reasons``)
NONCONFORMITY_REASONS = DEFAULT_NONCONFORMITY_REASONS


class ControlCampaign(db.Model):
    """A service-fait control of one lot over one or more validated months.

    The sample is drawn once, at opening, from a recorded seed with a named method
    (:mod:`fc_market.controls.sampling`): anyone can draw it again and find the same items.
    """
    __tablename__ = "control_campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    #: Human reference, e.g. CSF-IDF-2025-03
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    status: Mapped[CampaignStatus] = status_column(CampaignStatus, 8, default=CampaignStatus.OPEN)
    #: Date by which the mandataire answers; unanswered items become unproven after it
    response_due_on: Mapped[date]
    #: Rule snapshot (from the contract at opening)
    confidence: Mapped[Decimal] = mapped_column(RATE)
    margin: Mapped[Decimal] = mapped_column(RATE)
    expected_rate: Mapped[Decimal] = mapped_column(RATE)
    min_per_stratum: Mapped[int]
    extrapolate: Mapped[bool] = mapped_column(default=False)
    #: Draw: seed, method name/version, Python version, sizes and the arithmetic shown
    seed: Mapped[str] = mapped_column(sa.String(64))
    method: Mapped[str] = mapped_column(sa.String(64))
    python_version: Mapped[str] = mapped_column(sa.String(16))
    population: Mapped[int]
    population_value: Mapped[Decimal] = mapped_column(MONEY)
    #: Size required by the rule (Cochran with finite population correction)
    target_size: Mapped[int]
    #: Items drawn (target plus the per-stratum minimums)
    sample_size: Mapped[int]
    #: {uo_code: {"count": int, "value": "123.00", "size": int, "seed": hex}}
    strata: Mapped[dict] = mapped_column(sa.JSON)
    size_explanation: Mapped[str] = mapped_column(sa.Text)
    allocation_explanation: Mapped[str] = mapped_column(sa.Text)
    #: Outcome at closing: {uo_code: {rate, lower, upper, nonconforming, n, N, withheld, explanation}}
    outcome: Mapped[dict | None] = mapped_column(sa.JSON)
    withheld_total: Mapped[Decimal | None] = mapped_column(MONEY)
    note: Mapped[str | None] = mapped_column(sa.Text)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Optimistic lock: two managers cannot both close the campaign
    version_counter: Mapped[int] = mapped_column(default=1)

    lot = relationship("Lot")
    periods = relationship("ControlPeriod", back_populates="campaign", order_by="ControlPeriod.period",
                           cascade="all, delete-orphan")
    items = relationship("ControlItem", back_populates="campaign",
                         order_by="(ControlItem.uo_code, ControlItem.act_date, ControlItem.id)",
                         cascade="all, delete-orphan")
    opened_by = relationship("User", foreign_keys=[opened_by_id])
    closed_by = relationship("User", foreign_keys=[closed_by_id])

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        CampaignStatus.check_constraint(),
        sa.CheckConstraint("population >= 0 AND sample_size >= 0 AND target_size >= 0",
                           name="sizes"),
        sa.CheckConstraint("status = 'open' OR closed_at IS NOT NULL", name="closed"),
    )

    @property
    def status_label(self):
        return CampaignStatus.label_of(self.status)

    @property
    def is_open(self):
        return self.status == CampaignStatus.OPEN

    @property
    def period_list(self):
        return [p.period for p in self.periods]

    @property
    def reasons(self):
        """{code: French label} of non-conformity reasons, from the lot's contract."""
        cached = self.__dict__.get("_reasons")
        if cached is None:
            cached = self.__dict__["_reasons"] = lot_terms(self.lot).controls.reasons \
                if self.lot.contract else dict(DEFAULT_NONCONFORMITY_REASONS)
        return cached


class ControlPeriod(db.Model):
    """A month controlled by a campaign, the validated version sampled, and what is withheld."""
    __tablename__ = "control_periods"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("control_campaigns.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    period: Mapped[str] = mapped_column(sa.String(7))
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("report_versions.id"))
    #: Billed acts and value of the month at the draw
    acts: Mapped[int] = mapped_column(default=0)
    billed_value: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    #: Amount withheld on this month's statement (excl. tax, before revision), set at closing
    withheld: Mapped[Decimal | None] = mapped_column(MONEY)
    #: The same by UO code: {"UO1": "150.00", ...}
    withheld_by_uo: Mapped[dict | None] = mapped_column(sa.JSON)

    campaign = relationship("ControlCampaign", back_populates="periods")
    version = relationship("ReportVersion")

    __table_args__ = (
        # a month is controlled once
        sa.UniqueConstraint("lot_id", "period"),
        sa.CheckConstraint("withheld IS NULL OR withheld >= 0", name="withheld"),
    )


class ControlItem(db.Model):
    """One sampled act: the mandataire's answer and FC's verdict."""
    __tablename__ = "control_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("control_campaigns.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    act_id: Mapped[int] = mapped_column(sa.ForeignKey("acts.id"), index=True)
    period: Mapped[str] = mapped_column(sa.String(7))
    uo_code: Mapped[str] = mapped_column(sa.String(8))
    #: Copied from the act so the sheet reads without joins (pseudonymised id only)
    beneficiary_id: Mapped[str] = mapped_column(sa.String(64))
    act_date: Mapped[date]
    proof_ref: Mapped[str | None] = mapped_column(sa.String(100))
    #: Unit price in force on the act's date (excl. tax)
    value: Mapped[Decimal] = mapped_column(MONEY)
    #: The mandataire's answer: a reference and/or files
    answer_reference: Mapped[str | None] = mapped_column(sa.String(200))
    answer_comment: Mapped[str | None] = mapped_column(sa.Text)
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    verdict: Mapped[Verdict] = status_column(Verdict, 16, default=Verdict.PENDING)
    reason_code: Mapped[str | None] = mapped_column(sa.String(32))
    verdict_comment: Mapped[str | None] = mapped_column(sa.Text)
    judged_at: Mapped[datetime | None]
    #: None when the deadline job marked the item unproven
    judged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    version_counter: Mapped[int] = mapped_column(default=1)

    campaign = relationship("ControlCampaign", back_populates="items")
    act = relationship("Act")
    proofs = relationship("ControlProof", back_populates="item", order_by="ControlProof.id",
                          lazy="selectin")  # campaign pages list every item with its files
    answered_by = relationship("User", foreign_keys=[answered_by_id])
    judged_by = relationship("User", foreign_keys=[judged_by_id])

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "act_id"),
        Verdict.check_constraint("verdict"),
        sa.CheckConstraint("verdict <> 'non_conforme' OR reason_code IS NOT NULL", name="reason"),
        sa.CheckConstraint("value >= 0", name="value"),
    )

    @property
    def verdict_label(self):
        return Verdict.label_of(self.verdict)

    @property
    def is_answered(self):
        return self.answered_at is not None

    @property
    def reason_label(self):
        return self.campaign.reasons.get(self.reason_code or "", self.reason_code)


class ControlProof(db.Model):
    """A proof file for a control item, stored outside the web root (fc_market.storage)."""
    __tablename__ = "control_proofs"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("control_items.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    storage_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    mimetype: Mapped[str] = mapped_column(sa.String(40))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    filename: Mapped[str] = mapped_column(sa.String(200))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    item = relationship("ControlItem", back_populates="proofs")

    __table_args__ = (sa.CheckConstraint("size > 0", name="size"),)
