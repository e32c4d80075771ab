"""A lot's contract terms at a date: the one accessor code reads contract numbers through.

``lot_terms(lot, day)`` returns a frozen :class:`LotTerms` with named groups (coverage,
rounding, revision, penalties, controls, reporting, steering) built from the lot's
:class:`~fc_market.market.models.LotContract`.

Two kinds of terms:

* the historical terms, one column each on ``lot_contracts`` (VAT rate, payment term,
  rounding, revision clause, penalties, control parameters…);
* the **extra keys** listed in :data:`EXTRA_KEYS`: validated by
  :mod:`fc_market.market.contract_file` like every other key, then stored together in the
  JSON column ``LotContract.extra_terms`` (``{"coverage.radius_km": "30", …}``, decimals as
  strings).  Adding a key is one line in :data:`EXTRA_KEYS` (plus its French comment in
  ``contracts/*.toml``): no column, no migration.  A key missing from the stored JSON (a
  contract loaded before the key existed) reads its default, which is the value the code
  used before the key existed.

The ``day`` argument: the extra keys may change from a date (an amendment), given in the
contract file as ``[[lots.contract.changes]]`` (``valid_from``, optional ``amendment``, then
only the keys that change, e.g. ``steering.level2_days = 90``) and stored under
``extra_terms["changes"]``; ``lot_terms(lot, day)`` applies every change in force on
``day``.  The column terms (VAT, payment term, revision clause…) do not change by date here:
prices have their own dated lines, and an amendment of the other clauses is loaded as new
base values.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

#: Labels of the contract rounding modes on screens (statement lines are rounded to the cent).
#: ``half_up`` is Python's ROUND_HALF_UP: to the nearest cent, an exact half-cent going away
#: from zero (0,125 → 0,13 ; −0,125 → −0,13).
ROUNDING_LABELS = {
    "half_up": "au centime le plus proche, un demi-centime exact étant arrondi au centime "
               "supérieur en valeur absolue (0,125 € → 0,13 €)",
    "half_even": "au centime le plus proche, un demi-centime exact étant arrondi au centime "
                 "pair (0,125 € → 0,12 € ; 0,135 € → 0,14 €)",
    "down": "troncature au centime inférieur en valeur absolue (0,129 € → 0,12 €)",
}

#: The same modes applied to a coefficient's last decimal (price revision)
DECIMAL_ROUNDING_LABELS = {
    "half_up": "au plus proche, une demi-unité exacte de la dernière décimale étant arrondie à "
               "l'unité supérieure (1,03125 → 1,0313 à 4 décimales)",
    "half_even": "au plus proche, une demi-unité exacte de la dernière décimale allant au "
                 "chiffre pair (1,03125 → 1,0312 à 4 décimales)",
    "down": "troncature à la dernière décimale (1,03129 → 1,0312 à 4 décimales)",
}

#: VAT treatments of contractual penalties (see :mod:`fc_market.billing.calc`)
PENALTY_VAT_LABELS = {
    "outside_vat_scope": "hors du champ de la TVA : déduites du montant TTC, sans réduire la "
                         "base imposable",
    "reduces_vat_base": "déduites avant TVA, comme une réduction de prix (elles réduisent la "
                        "base imposable)",
}

#: Site kinds of the territory module (``Site.kind``)
SITE_KINDS = ("permanent", "permanence", "itinerant")
SITE_KIND_LABELS = {"permanent": "sites permanents", "permanence": "permanences",
                    "itinerant": "sites itinérants"}

#: Reasons of non-conformity FC chooses from at a service-fait control (``autre`` needs a
#: comment); the contract file may replace the list (``[defaults.controls.nonconformity_reasons]``)
DEFAULT_NONCONFORMITY_REASONS = {
    "livrable_absent": "Livrable absent (document de synthèse, écrit de niveau 1…)",
    "livrable_incomplet": "Livrable incomplet ou non signé",
    "uo_non_correspondante": "Prestation ne correspondant pas à l'UO facturée",
    "date_incoherente": "Date de l'acte incohérente avec la preuve",
    "beneficiaire_incoherent": "Identifiant du bénéficiaire incohérent avec la preuve",
    "hors_public": "Bénéficiaire hors du public du marché (non actif occupé)",
    "doublon": "Acte déjà facturé (doublon)",
    "autre": "Autre motif (préciser)",
}
OTHER_REASON = "autre"

#: UO4 spending categories (illustrative defaults; the contract file's
#: ``[defaults.uo4.categories]`` replaces the list)
DEFAULT_UO4_CATEGORIES = {
    "qualite": "Démarche qualité",
    "professionnalisation": "Professionnalisation",
    "communication": "Communication",
    "partenariats": "Partenariats",
    "accessibilite_immobilier": "Accessibilité et immobilier",
    "pilotage_si": "Pilotage et système d'information",
    "autre": "Autre",
}
#: UO4 keys that feed a market-wide steering rule: set in ``[defaults.uo4]`` only
UO4_MARKET_WIDE = ("documented_share_floor", "category_share_ceiling")


@dataclass(frozen=True)
class ExtraKey:
    """One contract-file key stored in ``LotContract.extra_terms``.

    ``name`` is ``"<section>.<key>"``: the key ``<key>`` of the table
    ``[defaults.<section>]`` (or ``[lots.contract.<section>]`` for one lot); a section
    ``""`` means the key sits directly in ``[defaults]``.
    """
    name: str
    kind: str                 # decimal, int, bool, choice, kinds, uo_list, reasons
    default: object
    minimum: object = None
    maximum: object = None
    choices: tuple = ()

    @property
    def section(self):
        return self.name.rpartition(".")[0]

    @property
    def key(self):
        return self.name.rpartition(".")[2]


#: Every extra key, its type, bounds and default (today's value).  Defaults are JSON-safe.
EXTRA_KEYS = {k.name: k for k in (
    # coverage (maillage): share of the population within the radius of an open site of
    # the kinds that count
    ExtraKey("coverage.radius_km", "decimal", "30", Decimal("1"), Decimal("200")),
    ExtraKey("coverage.site_kinds", "kinds", ["permanent"], choices=SITE_KINDS),
    # price revision: decimals of the coefficient C and how it is rounded to them
    ExtraKey("revision.coefficient_decimals", "int", 4, 0, 8),
    ExtraKey("revision.coefficient_rounding", "choice", "half_up",
             choices=("half_up", "half_even", "down")),
    # VAT treatment of penalties
    ExtraKey("penalties.vat_treatment", "choice", "outside_vat_scope",
             choices=tuple(PENALTY_VAT_LABELS)),
    # display order of the UO on screens and statements ([] = the catalogue's order)
    ExtraKey("display.uo_order", "uo_list", []),
    # service-fait controls
    ExtraKey("controls.nonconformity_reasons", "reasons", dict(DEFAULT_NONCONFORMITY_REASONS)),
    ExtraKey("controls.use_previous_rate", "bool", False),
    ExtraKey("controls.previous_rate_floor", "decimal", "0.05", Decimal("0.01"), Decimal("0.99")),
    # steering horizons
    ExtraKey("steering.indicator_window_months", "int", 3, 1, 24),
    ExtraKey("steering.information_only_days", "int", 90, 1, 730),
    ExtraKey("steering.level2_days", "int", 120, 1, 730),
    ExtraKey("steering.implementation_days", "int", 183, 1, 730),
    ExtraKey("steering.short_pathway_days", "int", 14, 1, 365),
    ExtraKey("steering.pathway_gap_days", "int", 365, 30, 1095),
    # monthly reporting: unusual volume change of a UO against the lot's recent months
    ExtraKey("reporting.volume_change_threshold", "decimal", "0.5", Decimal("0.05"),
             Decimal("10")),
    ExtraKey("reporting.volume_min_mean", "int", 20, 0, 100000),
    ExtraKey("reporting.volume_history_months", "int", 6, 1, 24),
    # UO4: spending categories of the yearly plan and statement of use, their deadlines
    # ("MM-JJ": the plan of year N in year N, the statement of year N in year N + 1), and
    # the thresholds of the UO4 steering rules (documented / paid; largest category / total)
    ExtraKey("uo4.categories", "labels", dict(DEFAULT_UO4_CATEGORIES)),
    ExtraKey("uo4.plan_deadline", "month_day", "01-31"),
    ExtraKey("uo4.statement_deadline", "month_day", "03-31"),
    ExtraKey("uo4.documented_share_floor", "decimal", "0.90", Decimal("0"), Decimal("1")),
    ExtraKey("uo4.category_share_ceiling", "decimal", "0.50", Decimal("0"), Decimal("1")),
)}


def extra_value(stored, name):
    """The stored value of extra key ``name`` (JSON form) or its default."""
    if stored and name in stored:
        return stored[name]
    return EXTRA_KEYS[name].default


# --------------------------------------------------------------------------- groups
@dataclass(frozen=True)
class CoverageTerms:
    #: Radius in km (a Decimal, e.g. 30)
    radius_km: Decimal
    #: Site kinds that count for coverage, e.g. ("permanent",)
    site_kinds: tuple

    @property
    def radius(self) -> float:
        """The radius as the float the geometry works in."""
        return float(self.radius_km)

    @property
    def radius_label(self) -> str:
        """« 30 km », « 22,5 km »."""
        return f"{self.radius_km.normalize():f}".replace(".", ",") + " km"

    @property
    def kinds_label(self) -> str:
        """« sites permanents », « sites permanents ou permanences »."""
        return " ou ".join(SITE_KIND_LABELS.get(k, k) for k in self.site_kinds)


@dataclass(frozen=True)
class RoundingTerms:
    #: half_up, half_even or down (see :data:`fc_market.money.ROUNDING_MODES`)
    mode: str
    #: Decimals of unit prices
    price_decimals: int

    @property
    def label(self) -> str:
        return ROUNDING_LABELS.get(self.mode, self.mode)


@dataclass(frozen=True)
class RevisionTerms:
    index_name: str | None
    base_value: Decimal | None
    base_date: date | None
    fixed_part: Decimal | None
    variable_part: Decimal | None
    first_date: date | None
    #: Decimals of the coefficient C and the rounding mode to them
    coefficient_decimals: int
    coefficient_rounding: str = "half_up"

    @property
    def defined(self) -> bool:
        return self.index_name is not None

    @property
    def coefficient_rounding_label(self) -> str:
        return DECIMAL_ROUNDING_LABELS.get(self.coefficient_rounding, self.coefficient_rounding)


@dataclass(frozen=True)
class PenaltyTerms:
    late_reporting_per_day: Decimal
    late_reporting_cap: Decimal | None
    #: outside_vat_scope or reduces_vat_base
    vat_treatment: str

    @property
    def vat_treatment_label(self) -> str:
        return PENALTY_VAT_LABELS.get(self.vat_treatment, self.vat_treatment)


@dataclass(frozen=True)
class ControlTerms:
    confidence: Decimal
    margin: Decimal
    expected_rate: Decimal
    min_per_stratum: int
    extrapolate: bool
    response_days: int
    #: ((code, French label), …) in the contract's order
    nonconformity_reasons: tuple
    #: Whether a campaign may size its sample on the previous campaign's rate
    use_previous_rate: bool
    #: The lowest rate the previous campaign's rate is raised to when it is used
    previous_rate_floor: Decimal

    @property
    def reasons(self) -> dict:
        return dict(self.nonconformity_reasons)


@dataclass(frozen=True)
class ReportingTerms:
    deadline_day: int
    reminder_days: int
    late_acts_grace_days: int
    #: Relative change of a UO's monthly count against the lot's recent mean that warns
    volume_change_threshold: Decimal
    #: No volume warning below this recent monthly mean
    volume_min_mean: int
    #: Months of history the recent mean is computed on
    volume_history_months: int


@dataclass(frozen=True)
class SteeringTerms:
    #: Months of validated data a quality indicator pools (the latest ones)
    indicator_window_months: int
    #: Cohort horizons, in days
    information_only_days: int
    level2_days: int
    implementation_days: int
    short_pathway_days: int
    #: A pathway ends after this many days without act
    pathway_gap_days: int


@dataclass(frozen=True)
class Uo4Terms:
    #: ((code, French label), …) in the contract's order
    categories: tuple
    #: (month, day) of year N for the plan of year N
    plan_due: tuple
    #: (month, day) of year N + 1 for the statement of use of year N
    statement_due: tuple
    documented_share_floor: Decimal
    category_share_ceiling: Decimal

    @property
    def labels(self) -> dict:
        return dict(self.categories)

    def due_on(self, kind, year) -> date:
        """Deadline of the plan (``kind`` "plan", in ``year``) or of the statement of use
        (in ``year + 1``); 29 February falls back to the 28th in a common year."""
        month, day = self.plan_due if kind == "plan" else self.statement_due
        year = year if kind == "plan" else year + 1
        try:
            return date(year, month, day)
        except ValueError:
            return date(year, month, 28)


def _month_day(text):
    month, _, day = str(text).partition("-")
    return int(month), int(day)


@dataclass(frozen=True)
class LotTerms:
    lot_code: str
    day: date
    reference: str
    vat_rate: Decimal
    payment_term_days: int
    rounding: RoundingTerms
    #: UO codes in display order (the catalogue's order unless the contract says otherwise)
    uo_order: tuple
    coverage: CoverageTerms
    revision: RevisionTerms
    penalties: PenaltyTerms
    controls: ControlTerms
    reporting: ReportingTerms
    steering: SteeringTerms
    uo4: Uo4Terms

    def uo_sort_key(self, code):
        """Sort key putting ``code`` in the contract's display order, unknown codes after."""
        if code in self.uo_order:
            return (0, self.uo_order.index(code), "")
        return (1, 0, code)


class NoContract(LookupError):
    """The lot has no contract loaded."""


def _dec(value):
    return value if isinstance(value, Decimal) else Decimal(str(value))


def extra_at(stored, day):
    """The stored extra keys in force on ``day``: the base values, then each dated change
    (``changes``, from ``[[lots.contract.changes]]``) whose ``valid_from`` is on or before it."""
    extra = {k: v for k, v in (stored or {}).items() if k != "changes"}
    for change in sorted((stored or {}).get("changes") or (), key=lambda ch: ch["valid_from"]):
        if date.fromisoformat(change["valid_from"]) <= day:
            extra.update(change["values"])
    return extra


def terms_of_contract(contract, day=None, *, lot_code=None, catalogue=()) -> LotTerms:
    """:class:`LotTerms` from a :class:`LotContract` (``catalogue``: UO codes in catalogue
    order, used when the contract gives no display order)."""
    day = day or date.today()
    extra = extra_at(contract.extra_terms, day)
    x = lambda name: extra_value(extra, name)  # noqa: E731
    order = tuple(x("display.uo_order")) or tuple(catalogue)
    reasons = x("controls.nonconformity_reasons")
    return LotTerms(
        lot_code=lot_code or (contract.lot.code if contract.lot is not None else ""),
        day=day,
        reference=contract.reference,
        vat_rate=_dec(contract.vat_rate),
        payment_term_days=contract.payment_term_days,
        rounding=RoundingTerms(contract.rounding or "half_up", contract.price_decimals),
        uo_order=order,
        coverage=CoverageTerms(_dec(x("coverage.radius_km")), tuple(x("coverage.site_kinds"))),
        revision=RevisionTerms(
            contract.revision_index_name, contract.revision_base_value, contract.revision_base_date,
            contract.revision_fixed_part, contract.revision_variable_part,
            contract.revision_first_date, int(x("revision.coefficient_decimals")),
            x("revision.coefficient_rounding")),
        penalties=PenaltyTerms(_dec(contract.late_reporting_penalty_per_day or 0),
                               contract.late_reporting_penalty_cap,
                               x("penalties.vat_treatment")),
        controls=ControlTerms(
            _dec(contract.control_confidence), _dec(contract.control_margin),
            _dec(contract.control_expected_rate), contract.control_min_per_stratum,
            bool(contract.control_extrapolate), contract.control_response_days,
            tuple((str(k), str(v)) for k, v in reasons.items()),
            bool(x("controls.use_previous_rate")), _dec(x("controls.previous_rate_floor"))),
        reporting=ReportingTerms(
            contract.reporting_deadline_day, contract.reporting_reminder_days,
            contract.late_acts_grace_days, _dec(x("reporting.volume_change_threshold")),
            int(x("reporting.volume_min_mean")), int(x("reporting.volume_history_months"))),
        steering=SteeringTerms(
            int(x("steering.indicator_window_months")), int(x("steering.information_only_days")),
            int(x("steering.level2_days")), int(x("steering.implementation_days")),
            int(x("steering.short_pathway_days")), int(x("steering.pathway_gap_days"))),
        uo4=Uo4Terms(
            tuple((str(k), str(v)) for k, v in x("uo4.categories").items()),
            _month_day(x("uo4.plan_deadline")), _month_day(x("uo4.statement_deadline")),
            _dec(x("uo4.documented_share_floor")), _dec(x("uo4.category_share_ceiling"))),
    )


def lot_terms(lot, day=None) -> LotTerms:
    """The contract terms of ``lot`` in force on ``day`` (default today): THE accessor of a
    lot's terms.

    The terms change only on the dates of the contract's dated changes
    (``[[lots.contract.changes]]``): they are built once per span between two of them and
    kept on the contract row (:data:`TERMS_MEMO`), so reading them for each of thousands of
    invoices costs a lookup.  The memo is dropped whenever the row changes, is expired or
    refreshed (listeners in :mod:`fc_market.market.models`), and by the contract file's
    loader (which may also change the catalogue of UOs).

    Raises :class:`NoContract` when the lot has no contract loaded."""
    contract = lot.contract
    if contract is None:
        raise NoContract(f"Le lot {lot.code} n'a pas de contrat chargé.")
    day = day or date.today()
    memo = contract.__dict__.get(TERMS_MEMO)
    if memo is None:
        memo = contract.__dict__[TERMS_MEMO] = {"changes": _change_dates(contract.extra_terms)}
    span = bisect_right(memo["changes"], day)  # how many dated changes are in force
    terms = memo.get(span)
    if terms is None:
        catalogue = [u.code for u in sorted(lot.market.units, key=lambda u: u.sort_order)] \
            if lot.market is not None else []
        terms = memo[span] = terms_of_contract(contract, day, lot_code=lot.code,
                                               catalogue=catalogue)
    return terms if terms.day == day else replace(terms, day=day)


def terms_of(lot, day=None) -> LotTerms:
    """:func:`lot_terms`, or the defaults (:func:`default_terms`) for a lot without contract
    (or no lot)."""
    if lot is None or lot.contract is None:
        return default_terms(day, lot_code=getattr(lot, "code", "") or "")
    return lot_terms(lot, day)


#: The key of :func:`lot_terms`'s memo in a contract row's ``__dict__`` (not a column)
TERMS_MEMO = "_fc_lot_terms"


def forget_terms(contract):
    """Drop the memo of :func:`lot_terms` kept on ``contract`` (a :class:`LotContract`)."""
    contract.__dict__.pop(TERMS_MEMO, None)


def _change_dates(stored):
    """The ``valid_from`` dates of the dated changes, sorted (see :func:`extra_at`)."""
    return sorted(date.fromisoformat(change["valid_from"])
                  for change in (stored or {}).get("changes") or ())


def default_terms(day=None, *, lot_code="", catalogue=()) -> LotTerms:
    """The terms a lot without contract falls back to: every key at its default."""
    from fc_market.market.models import LotContract
    contract = LotContract(reference="", vat_rate=Decimal("0.20"), payment_term_days=30,
                           reporting_deadline_day=10, reporting_reminder_days=3,
                           late_acts_grace_days=0, rounding="half_up", price_decimals=2,
                           late_reporting_penalty_per_day=Decimal("0"),
                           control_confidence=Decimal("0.95"), control_margin=Decimal("0.10"),
                           control_expected_rate=Decimal("0.5"), control_min_per_stratum=5,
                           control_extrapolate=False, control_response_days=30, extra_terms={})
    return terms_of_contract(contract, day, lot_code=lot_code, catalogue=catalogue)
