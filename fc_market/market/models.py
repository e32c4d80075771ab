"""The market: framework agreement, lots, groupements, contracts, UO catalogue, prices."""
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.market.dates import add_months
from fc_market.market.terms import forget_terms
from fc_market.models_base import MONEY, RATE, UNIT_PRICE, utcnow


class Market(db.Model):
    """A framework agreement (accord-cadre) and its steering settings."""
    __tablename__ = "markets"
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Reference of the procedure, unique, the key the contract file is matched on
    reference: Mapped[str] = mapped_column(sa.String(64), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    buyer: Mapped[str] = mapped_column(sa.String(200), default="France compétences")
    start_date: Mapped[date]
    end_date: Mapped[date]
    #: Number of optional renewals and the length of each
    max_renewals: Mapped[int] = mapped_column(default=0)
    renewal_months: Mapped[int] = mapped_column(default=0)
    #: True when prices and targets are illustrative (demo), never FC's real figures
    illustrative: Mapped[bool] = mapped_column(default=False)
    notice: Mapped[str | None] = mapped_column(sa.Text)
    source_file: Mapped[str | None] = mapped_column(sa.String(300))
    source_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    loaded_at: Mapped[datetime | None]
    #: What the buyer publishes and invoices are addressed to (contract file [market.publication]):
    #: buyer SIRET and Chorus Pro service code, CPV, procedure, techniques, price form… as
    #: validated by the contract file (DECP v2 vocabulary)
    publication: Mapped[dict | None] = mapped_column(sa.JSON)

    lots = relationship("Lot", back_populates="market", order_by="Lot.number")
    units = relationship("UnitOfWork", back_populates="market", order_by="UnitOfWork.sort_order")
    flag_rules = relationship("FlagRule", back_populates="market", order_by="FlagRule.code")

    __table_args__ = (sa.CheckConstraint("end_date > start_date", name="dates"),
                      sa.CheckConstraint("max_renewals >= 0 AND renewal_months >= 0", name="renewals"))


class Lot(db.Model):
    """One regional lot; ``code`` is the identifier every command and URL takes."""
    __tablename__ = "lots"
    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(sa.ForeignKey("markets.id"))
    #: Short code, e.g. ``IDF``, used in URLs and commands
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    number: Mapped[int]
    #: INSEE region code (two characters, e.g. "11", "01")
    region_code: Mapped[str] = mapped_column(sa.String(2))
    name: Mapped[str] = mapped_column(sa.String(120))
    overseas: Mapped[bool] = mapped_column(default=False)
    #: Population as stated in the contract file, only checked at load against the sum of the
    #: region's communes; screens and indicators use
    #: :func:`fc_market.territory.population.lot_population`, never this column
    population: Mapped[int | None]
    #: The FC market manager who follows the lot (chargé(e) de marché référent): receives its
    #: flags, submissions and late reports; all managers do while none is named
    manager_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", use_alter=True, name="fk_lots_manager_id_users"))

    market = relationship("Market", back_populates="lots")
    manager = relationship("User", foreign_keys=[manager_id])
    contract = relationship("LotContract", back_populates="lot", uselist=False)
    operator = relationship("Operator", back_populates="lot", uselist=False)
    prices = relationship("Price", back_populates="lot", order_by="Price.valid_from")
    amendments = relationship("Amendment", back_populates="lot", order_by="Amendment.number")
    targets = relationship("LotTarget", back_populates="lot", order_by="LotTarget.year")

    __table_args__ = (sa.UniqueConstraint("market_id", "number"),
                      sa.UniqueConstraint("market_id", "region_code"),
                      sa.CheckConstraint("number BETWEEN 1 AND 99", name="number"),
                      sa.CheckConstraint("population IS NULL OR population >= 0", name="population"))

    def __repr__(self):
        return f"<Lot {self.code}>"


class LotContract(db.Model):
    """The contract terms of one lot's framework agreement."""
    __tablename__ = "lot_contracts"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), unique=True)
    reference: Mapped[str] = mapped_column(sa.String(64))
    notification_date: Mapped[date]
    start_date: Mapped[date]
    duration_months: Mapped[int]
    #: Minimum and maximum amounts excl. tax over the whole term, if any
    min_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    max_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    #: VAT rate as a fraction (0.2000 = 20 %); 0 when exempt
    vat_rate: Mapped[Decimal] = mapped_column(RATE)
    payment_term_days: Mapped[int]
    #: Reports are due on this day of the month following the period
    reporting_deadline_day: Mapped[int]
    #: Days before the deadline when the reminder goes to the mandataire
    reporting_reminder_days: Mapped[int] = mapped_column(default=3)
    #: Days after the period's end during which acts of that period may still be reported (warning)
    late_acts_grace_days: Mapped[int] = mapped_column(default=0)
    #: Rounding of statement lines: half_up, half_even or down
    rounding: Mapped[str] = mapped_column(sa.String(16), default="half_up")
    price_decimals: Mapped[int] = mapped_column(default=2)
    late_reporting_penalty_per_day: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    late_reporting_penalty_cap: Mapped[Decimal | None] = mapped_column(MONEY)
    #: Price revision clause: C = fixed + variable × (I / I0)
    revision_index_name: Mapped[str | None] = mapped_column(sa.String(80))
    revision_base_value: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 4))
    revision_base_date: Mapped[date | None]
    revision_fixed_part: Mapped[Decimal | None] = mapped_column(RATE)
    revision_variable_part: Mapped[Decimal | None] = mapped_column(RATE)
    revision_first_date: Mapped[date | None]
    #: Service-fait control rules
    control_confidence: Mapped[Decimal] = mapped_column(RATE, default=Decimal("0.95"))
    control_margin: Mapped[Decimal] = mapped_column(RATE, default=Decimal("0.10"))
    control_expected_rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal("0.5"))
    control_min_per_stratum: Mapped[int] = mapped_column(default=5)
    control_extrapolate: Mapped[bool] = mapped_column(default=False)
    control_response_days: Mapped[int] = mapped_column(default=30)
    #: Per-lot publication and invoicing data ([lots.publication]): engagement number (the
    #: buyer's order reference on invoices), offers received, groupement type, place of execution
    publication: Mapped[dict | None] = mapped_column(sa.JSON)
    #: The contract file's extra keys, validated ({"coverage.radius_km": "30", …}); read them
    #: through :func:`fc_market.market.terms.lot_terms`, which supplies the defaults
    extra_terms: Mapped[dict | None] = mapped_column(sa.JSON)

    lot = relationship("Lot", back_populates="contract")

    __table_args__ = (
        sa.CheckConstraint("vat_rate >= 0 AND vat_rate < 1", name="vat_rate"),
        sa.CheckConstraint("payment_term_days BETWEEN 1 AND 90", name="payment_term"),
        sa.CheckConstraint("reporting_deadline_day BETWEEN 1 AND 28", name="deadline_day"),
        sa.CheckConstraint("reporting_reminder_days BETWEEN 0 AND 27", name="reminder_days"),
        sa.CheckConstraint("duration_months > 0", name="duration"),
        sa.CheckConstraint("min_amount IS NULL OR min_amount >= 0", name="min_amount"),
        sa.CheckConstraint("max_amount IS NULL OR min_amount IS NULL OR max_amount >= min_amount",
                           name="max_amount"),
        sa.CheckConstraint("late_reporting_penalty_per_day >= 0", name="penalty"),
        sa.CheckConstraint("late_reporting_penalty_cap IS NULL OR late_reporting_penalty_cap >= 0",
                           name="penalty_cap"),
        sa.CheckConstraint("rounding IN ('half_up', 'half_even', 'down')", name="rounding"),
        sa.CheckConstraint("late_acts_grace_days >= 0", name="grace"),
        sa.CheckConstraint("control_min_per_stratum >= 0 AND control_response_days > 0",
                           name="controls"),
    )

    @property
    def end_date(self):
        return add_months(self.start_date, self.duration_months) - timedelta(days=1)



def _forget_terms(target, *args):
    """The memo of :func:`fc_market.market.terms.lot_terms` goes with any change of the row:
    an attribute set, an expiry (every commit), a refresh.  (An expiry may reach a row
    already garbage-collected: nothing to forget.)"""
    if target is not None:
        forget_terms(target)


sa.event.listen(LotContract, "expire", _forget_terms)
sa.event.listen(LotContract, "refresh", _forget_terms)
sa.event.listen(LotContract, "refresh_flush", _forget_terms)


@sa.event.listens_for(LotContract, "mapper_configured")
def _watch_contract_columns(mapper, cls):
    for attr in mapper.column_attrs:
        sa.event.listen(getattr(cls, attr.key), "set", _forget_terms)


class Operator(db.Model):
    """The holder (titulaire) of a lot: usually a groupement of several members."""
    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: groupement (several members) or single (one organisation)
    kind: Mapped[str] = mapped_column(sa.String(16), default="groupement")

    lot = relationship("Lot", back_populates="operator")
    members = relationship("OperatorMember", back_populates="operator",
                           order_by="(OperatorMember.role != 'mandataire', OperatorMember.legal_name)")

    __table_args__ = (sa.CheckConstraint("kind IN ('groupement', 'single')", name="kind"),)

    @property
    def mandataire(self):
        return next((m for m in self.members if m.role == "mandataire"), None)


class OperatorMember(db.Model):
    """A member organisation of a groupement.  Exactly one is the mandataire."""
    __tablename__ = "operator_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(sa.ForeignKey("operators.id"))
    legal_name: Mapped[str] = mapped_column(sa.String(200))
    #: 14-digit SIRET, checked with the Luhn key (La Poste's establishments excepted)
    siret: Mapped[str] = mapped_column(sa.String(14))
    #: mandataire, cotraitant or sous-traitant
    role: Mapped[str] = mapped_column(sa.String(16))

    operator = relationship("Operator", back_populates="members")

    __table_args__ = (
        sa.UniqueConstraint("operator_id", "siret"),
        sa.CheckConstraint("role IN ('mandataire', 'cotraitant', 'sous-traitant')", name="role"),
        sa.CheckConstraint("length(siret) = 14", name="siret_length"),
        sa.Index("uq_operator_members_one_mandataire", "operator_id", unique=True,
                 sqlite_where=sa.text("role = 'mandataire'"),
                 postgresql_where=sa.text("role = 'mandataire'")),
    )


class UnitOfWork(db.Model):
    """An entry of the UO catalogue: what is paid, how, and on which proof."""
    __tablename__ = "units_of_work"
    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(sa.ForeignKey("markets.id"))
    code: Mapped[str] = mapped_column(sa.String(8))
    label: Mapped[str] = mapped_column(sa.String(200))
    #: beneficiary (forfait per beneficiary act) or lump_sum (yearly amount per lot)
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: CEP level: 0 (aiguillage), 1, 2; none for lump sums
    level: Mapped[int | None]
    description: Mapped[str | None] = mapped_column(sa.Text)
    #: The deliverable that proves service fait (e.g. document de synthèse)
    proof_label: Mapped[str | None] = mapped_column(sa.String(200))
    #: Whether a proof reference is required on each reported act
    proof_required: Mapped[bool] = mapped_column(default=False)
    #: How many times one beneficiary may be billed this UO inside the window (none: no limit)
    max_per_beneficiary: Mapped[int | None]
    window_months: Mapped[int | None]
    #: Code of the UO expected before this one for the same beneficiary (warning only)
    expects_prior_code: Mapped[str | None] = mapped_column(sa.String(8))
    sort_order: Mapped[int] = mapped_column(default=0)

    market = relationship("Market", back_populates="units")

    __table_args__ = (
        sa.UniqueConstraint("market_id", "code"),
        sa.CheckConstraint("kind IN ('beneficiary', 'lump_sum')", name="kind"),
        sa.CheckConstraint("max_per_beneficiary IS NULL OR max_per_beneficiary > 0", name="max"),
        sa.CheckConstraint("window_months IS NULL OR window_months > 0", name="window"),
    )

    @property
    def is_lump_sum(self):
        return self.kind == "lump_sum"


class Amendment(db.Model):
    """An avenant to a lot's contract: date, object and effect."""
    __tablename__ = "amendments"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    number: Mapped[int]
    signed_on: Mapped[date]
    effective_on: Mapped[date]
    object: Mapped[str] = mapped_column(sa.Text)
    effect: Mapped[str] = mapped_column(sa.Text)
    #: What the amendment changes in the contract's essential data (DECP ``modifications``):
    #: the new maximum amount excl. tax, the new duration, whether the holders change
    new_max_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    new_duration_months: Mapped[int | None]
    changes_holders: Mapped[bool] = mapped_column(default=False)

    lot = relationship("Lot", back_populates="amendments")

    __table_args__ = (sa.UniqueConstraint("lot_id", "number"),
                      sa.CheckConstraint("number > 0", name="number"))


class Price(db.Model):
    """A unit price of one UO in one lot from ``valid_from`` until the next line's date.

    Lines are never updated: an amendment or a revision adds a line from a later date.
    For a lump-sum UO the price is the yearly amount.
    """
    __tablename__ = "prices"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    uo_id: Mapped[int] = mapped_column(sa.ForeignKey("units_of_work.id"))
    valid_from: Mapped[date]
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE)
    amendment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("amendments.id"))
    #: Why this line exists: initial, amendment, revision
    origin: Mapped[str] = mapped_column(sa.String(16), default="initial")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lot = relationship("Lot", back_populates="prices")
    uo = relationship("UnitOfWork")
    amendment = relationship("Amendment")

    __table_args__ = (
        sa.UniqueConstraint("lot_id", "uo_id", "valid_from"),
        sa.CheckConstraint("unit_price >= 0", name="unit_price"),
        sa.CheckConstraint("origin IN ('initial', 'amendment', 'revision')", name="origin"),
    )


class LotTarget(db.Model):
    """Yearly recourse target of a lot: distinct beneficiaries entering the CEP."""
    __tablename__ = "lot_targets"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"))
    year: Mapped[int]
    entries: Mapped[int]
    #: Optional monthly profile (12 weights); flat when empty
    monthly_profile: Mapped[list | None] = mapped_column(sa.JSON)

    lot = relationship("Lot", back_populates="targets")

    __table_args__ = (sa.UniqueConstraint("lot_id", "year"),
                      sa.CheckConstraint("entries >= 0", name="entries"))


class FlagRule(db.Model):
    """A steering rule with its threshold, read from the contract file."""
    __tablename__ = "flag_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(sa.ForeignKey("markets.id"))
    code: Mapped[str] = mapped_column(sa.String(64))
    #: quality, access, volume, reporting or finance
    category: Mapped[str] = mapped_column(sa.String(16))
    label: Mapped[str] = mapped_column(sa.String(200))
    indicator: Mapped[str] = mapped_column(sa.String(64))
    #: below or above
    comparison: Mapped[str] = mapped_column(sa.String(8))
    threshold: Mapped[Decimal] = mapped_column(sa.Numeric(14, 4))
    #: Below this sample size the indicator is shown but raises no flag alone
    min_sample: Mapped[int] = mapped_column(default=0)

    market = relationship("Market", back_populates="flag_rules")

    CATEGORY_LABELS = {"quality": "qualité", "access": "accès", "volume": "volume",
                       "reporting": "reporting", "finance": "finances"}

    @property
    def category_label(self):
        return self.CATEGORY_LABELS.get(self.category, self.category)

    __table_args__ = (
        sa.UniqueConstraint("market_id", "code"),
        sa.CheckConstraint("category IN ('quality', 'access', 'volume', 'reporting', 'finance')",
                           name="category"),
        sa.CheckConstraint("comparison IN ('below', 'above')", name="comparison"),
        sa.CheckConstraint("min_sample >= 0", name="min_sample"),
    )
