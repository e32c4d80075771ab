"""Arithmetic of the payable statement (état liquidatif) of one lot for one month.

Pure functions on frozen dataclasses: no Flask, no database.  Money is ``Decimal``,
every rounding is explicit and happens at one of these places only:

1. each line: ``gross = quantity × unit_price`` rounded to the cent (exact when the
   unit price has two decimals);
2. the revision coefficient ``C = fixed + variable × (I / I0)``, rounded to 4 decimals
   half-up by default (both configurable on :class:`RevisionClause`);
3. each line's revised amount: ``amount = round(gross × C)``, the line's
   ``revision_adjustment`` being ``amount − gross`` (the coefficient is applied to
   each **line amount**, not to unit prices: one rounding per line, and the statement
   shows the adjustment next to the contractual price);
4. the penalty: ``days × daily_amount`` (rounded if the daily amount has sub-cent
   digits), capped by an amount and/or by a rate of the subtotal; the rate cap is
   rounded **down** so that the penalty never exceeds the rate;
5. the VAT: once, on the total excl. tax, half-up by default.

Lines and VAT use the contract's rounding mode (``half_up``, ``half_even`` or
``down``; ``half_up`` by default) except the VAT, which is rounded half-up unless
``vat_rounding`` says otherwise.  The subtotal is the exact sum of the rounded lines.

VAT treatment of penalties (``penalty_vat_treatment``):

* ``"outside_vat_scope"`` (default): contractual penalties are damages, not the
  consideration of a service, hence outside the scope of VAT — they neither bear
  VAT nor reduce the taxable base.  The VAT is computed on
  ``subtotal − withholdings`` and the penalty is deducted from the amount incl. tax.
* ``"reduces_vat_base"``: the penalty is deducted before VAT like a price reduction
  (``total excl. tax = subtotal − penalty − withholdings``), for a contract or an
  accountant that wants it so.

Service-fait withholdings (acts not proven, not conforming) always reduce the base:
they are the price of services that are not due.

No amount goes negative: when deductions exceed what they are deducted from, the
total is floored at 0,00 and the rest is reported as ``unabsorbed`` (to be carried
over to a later statement or recovered by a credit note, outside this module).
Whatever the treatment, ``amount_payable − unabsorbed = subtotal − withholdings −
penalties + vat``.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from typing import Iterable, Sequence

from fc_market.money import (D, format_fr, mul_cents, quantize_cents, round_fraction, rounding_mode,
                             split_evenly)

__all__ = [
    "UO_ORDER", "PENALTY_VAT_TREATMENTS", "ActGroup", "LumpSum", "RevisionClause", "LatePenalty",
    "PenaltyResult", "StatementInput", "StatementLine", "Statement", "LineDiff", "StatementDiff",
    "revision_coefficient", "compute_penalty", "compute_statement", "diff_statements",
]

#: Default display order of the market's UO codes (the contract's ``display.uo_order``
#: is passed as ``StatementInput.uo_order``); unknown codes come after, alphabetically.
UO_ORDER = ("UO0", "UO1", "UO2.1", "UO2.2", "UO4")
PENALTY_VAT_TREATMENTS = ("outside_vat_scope", "reduces_vat_base")
ZERO = Decimal("0.00")
ONE = Decimal("1")


def _set(obj, name, value):
    object.__setattr__(obj, name, value)


def _money(value, what) -> Decimal:
    value = D(value)
    if value < 0:
        raise ValueError(f"{what} ne peut pas être négatif ({value})")
    return value


def _int(value, what, minimum=0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} doit être un entier")
    if value < minimum:
        raise ValueError(f"{what} doit être ≥ {minimum} ({value})")
    return value


# --------------------------------------------------------------------------- inputs

@dataclass(frozen=True)
class ActGroup:
    """Acts of one UO billed at one unit price (the price valid at the acts' dates).

    When a price changes during the month, the UO has one group per price.
    """
    uo_code: str
    unit_price: Decimal
    quantity: int
    label: str | None = None

    def __post_init__(self):
        _set(self, "unit_price", _money(self.unit_price, "le prix unitaire"))
        _int(self.quantity, "la quantité")
        if not self.uo_code:
            raise ValueError("code UO manquant")


@dataclass(frozen=True)
class LumpSum:
    """The yearly lump sum (UO4) and which monthly share this statement bills.

    ``month_index`` is 1-based in the ``months`` shares of the year (1 = first month
    of the contract year).  Shares come from :func:`fc_market.money.split_evenly`:
    the first months carry the remainder cents, and the 12 shares sum to the
    yearly amount exactly.
    """
    yearly_amount: Decimal
    month_index: int
    months: int = 12
    uo_code: str = "UO4"
    label: str | None = None

    def __post_init__(self):
        _set(self, "yearly_amount", _money(self.yearly_amount, "le forfait annuel"))
        _int(self.months, "le nombre de mois", 1)
        _int(self.month_index, "le rang du mois", 1)
        if self.month_index > self.months:
            raise ValueError(f"rang du mois {self.month_index} > {self.months}")

    @property
    def share(self) -> Decimal:
        return split_evenly(self.yearly_amount, self.months)[self.month_index - 1]


def revision_coefficient(fixed_part, variable_part, index_current, index_base, decimals: int = 4,
                         rounding="half_up", require_unit_sum: bool = True) -> Decimal:
    """``C = fixed_part + variable_part × (index_current / index_base)``, rounded once.

    Computed exactly, then rounded to ``decimals`` (4 by default) with ``rounding``
    (half-up by default).  With ``require_unit_sum`` the parts must add up to 1 (so
    that ``C = 1`` when the index has not moved); a clause that says otherwise can
    turn the check off.
    """
    fixed, variable = D(fixed_part), D(variable_part)
    current, base = D(index_current), D(index_base)
    if fixed < 0 or variable < 0:
        raise ValueError("les parts fixe et variable doivent être positives")
    if require_unit_sum and fixed + variable != 1:
        raise ValueError(f"partie fixe + partie variable = {fixed + variable} ≠ 1")
    if base <= 0 or current <= 0:
        raise ValueError("les indices doivent être strictement positifs")
    _int(decimals, "le nombre de décimales")
    exact = Fraction(fixed) + Fraction(variable) * Fraction(current) / Fraction(base)
    return round_fraction(exact, Decimal(1).scaleb(-decimals), rounding)


@dataclass(frozen=True)
class RevisionClause:
    """A price revision clause ``C = fixed + variable × (I / I0)``."""
    fixed_part: Decimal
    variable_part: Decimal
    index_base: Decimal
    index_current: Decimal
    decimals: int = 4
    rounding: str = "half_up"
    require_unit_sum: bool = True

    def __post_init__(self):
        for name in ("fixed_part", "variable_part", "index_base", "index_current"):
            _set(self, name, D(getattr(self, name)))
        rounding_mode(self.rounding)
        self.coefficient  # validates the clause now rather than at statement time

    @property
    def coefficient(self) -> Decimal:
        return revision_coefficient(self.fixed_part, self.variable_part, self.index_current,
                                    self.index_base, self.decimals, self.rounding,
                                    self.require_unit_sum)


@dataclass(frozen=True)
class LatePenalty:
    """Penalty for late reporting: ``days_late × daily_amount``, capped.

    ``cap_amount`` caps in euros; ``cap_rate`` caps as a fraction of the statement's
    subtotal excl. tax (``Decimal("0.10")`` = 10 %).  When both are given the lower
    cap applies.
    """
    days_late: int
    daily_amount: Decimal
    cap_amount: Decimal | None = None
    cap_rate: Decimal | None = None

    def __post_init__(self):
        _int(self.days_late, "le nombre de jours de retard")
        _set(self, "daily_amount", _money(self.daily_amount, "la pénalité journalière"))
        if self.cap_amount is not None:
            _set(self, "cap_amount", _money(self.cap_amount, "le plafond"))
        if self.cap_rate is not None:
            rate = _money(self.cap_rate, "le taux plafond")
            if rate > 1:
                raise ValueError("le taux plafond est une fraction (0.10 = 10 %)")
            _set(self, "cap_rate", rate)


@dataclass(frozen=True)
class StatementInput:
    """Everything the statement of one lot for one month is computed from."""
    act_groups: Sequence[ActGroup] = ()
    lump_sum: LumpSum | None = None
    revision: RevisionClause | None = None
    #: Whether the revision coefficient also applies to the lump-sum share
    revise_lump_sum: bool = True
    penalty: LatePenalty | None = None
    #: Service-fait control withholdings (excl. tax), deducted before VAT
    withholdings: Decimal = ZERO
    #: VAT rate as a fraction: 0.20, or 0 when the contract says exempt
    vat_rate: Decimal = Decimal("0.20")
    #: Contract rounding of lines (and penalty), by name
    rounding: str = "half_up"
    vat_rounding: str = "half_up"
    penalty_vat_treatment: str = "outside_vat_scope"
    #: Display order of the lines (the contract's UO order)
    uo_order: Sequence[str] = UO_ORDER

    def __post_init__(self):
        _set(self, "act_groups", tuple(self.act_groups))
        _set(self, "uo_order", tuple(self.uo_order))
        for group in self.act_groups:
            if not isinstance(group, ActGroup):
                raise TypeError("act_groups attend des ActGroup")
        _set(self, "withholdings", _money(self.withholdings, "la retenue"))
        rate = _money(self.vat_rate, "le taux de TVA")
        if rate >= 1:
            raise ValueError("le taux de TVA est une fraction (0.20 = 20 %)")
        _set(self, "vat_rate", rate)
        rounding_mode(self.rounding)
        rounding_mode(self.vat_rounding)
        if self.penalty_vat_treatment not in PENALTY_VAT_TREATMENTS:
            raise ValueError(f"traitement TVA des pénalités inconnu : {self.penalty_vat_treatment}")


# -------------------------------------------------------------------------- outputs

@dataclass(frozen=True)
class StatementLine:
    uo_code: str
    label: str
    quantity: int
    unit_price: Decimal
    #: quantity × unit_price, rounded to the cent
    gross_amount: Decimal
    #: amount − gross_amount (0,00 without revision)
    revision_adjustment: Decimal
    #: gross_amount × coefficient, rounded to the cent
    amount: Decimal
    #: "acts" or "lump_sum"
    kind: str = "acts"

    @property
    def key(self):
        """Identity of the line across versions of a statement (see :func:`diff_statements`)."""
        return (self.kind, self.uo_code, self.unit_price if self.kind == "acts" else None)


@dataclass(frozen=True)
class PenaltyResult:
    days_late: int
    daily_amount: Decimal
    #: days_late × daily_amount before any cap
    raw_amount: Decimal
    cap_amount: Decimal | None
    #: subtotal × cap_rate, rounded down (None without a rate cap)
    cap_from_rate: Decimal | None
    amount: Decimal
    capped: bool


@dataclass(frozen=True)
class Statement:
    lines: tuple[StatementLine, ...]
    #: Revision coefficient applied (1 without revision)
    revision_coefficient: Decimal
    rounding: str
    penalty_vat_treatment: str
    subtotal: Decimal
    penalty: PenaltyResult | None
    penalties: Decimal
    withholdings: Decimal
    #: Base before the floor: subtotal − withholdings (− penalties when they reduce the base)
    net_excl_tax_before_floor: Decimal
    total_excl_tax: Decimal
    vat_rate: Decimal
    vat: Decimal
    total_incl_tax: Decimal
    #: Penalties taken from the amount incl. tax ("outside_vat_scope" only)
    penalties_deducted_incl_tax: Decimal
    amount_payable: Decimal
    #: Deductions the statement could not absorb (floor at zero)
    unabsorbed: Decimal

    @property
    def revision_adjustments(self) -> Decimal:
        return sum((line.revision_adjustment for line in self.lines), ZERO)


# ---------------------------------------------------------------------- computation

def compute_penalty(penalty: LatePenalty, subtotal: Decimal, rounding="half_up") -> PenaltyResult:
    raw = mul_cents(penalty.daily_amount, penalty.days_late, rounding)
    caps = []
    if penalty.cap_amount is not None:
        caps.append(quantize_cents(penalty.cap_amount, ROUND_DOWN))
    cap_from_rate = None
    if penalty.cap_rate is not None:
        # rounded down: a penalty capped at 10 % never exceeds 10 %, even by half a cent
        cap_from_rate = mul_cents(subtotal, penalty.cap_rate, ROUND_DOWN)
        caps.append(cap_from_rate)
    amount = min([raw, *caps])
    return PenaltyResult(days_late=penalty.days_late, daily_amount=penalty.daily_amount,
                         raw_amount=raw, cap_amount=penalty.cap_amount, cap_from_rate=cap_from_rate,
                         amount=amount, capped=amount < raw)


def _uo_sort_key(code: str, order: Sequence[str] = UO_ORDER):
    try:
        return (0, order.index(code), "")
    except ValueError:
        return (1, 0, code)


def _merge_groups(groups: Iterable[ActGroup], order: Sequence[str] = UO_ORDER) -> list[ActGroup]:
    merged: dict[tuple[str, Decimal], ActGroup] = {}
    for group in groups:
        key = (group.uo_code, group.unit_price)
        if key in merged:
            first = merged[key]
            merged[key] = ActGroup(first.uo_code, first.unit_price, first.quantity + group.quantity,
                                   first.label or group.label)
        else:
            merged[key] = group
    return sorted((g for g in merged.values() if g.quantity),
                  key=lambda g: (_uo_sort_key(g.uo_code, order), g.unit_price))


def _line(uo_code, label, quantity, unit_price, coefficient, rounding, kind) -> StatementLine:
    gross = mul_cents(unit_price, quantity, rounding)
    amount = mul_cents(gross, coefficient, rounding)
    return StatementLine(uo_code=uo_code, label=label, quantity=quantity, unit_price=unit_price,
                         gross_amount=gross, revision_adjustment=amount - gross, amount=amount,
                         kind=kind)


def compute_statement(inp: StatementInput) -> Statement:
    """The statement of ``inp``: lines, subtotal, deductions, VAT and totals."""
    rounding = inp.rounding
    coefficient = inp.revision.coefficient if inp.revision is not None else ONE

    lines = [
        _line(g.uo_code, g.label or f"{g.uo_code} — {g.quantity} × {format_fr(g.unit_price)} €",
              g.quantity, g.unit_price, coefficient, rounding, "acts")
        for g in _merge_groups(inp.act_groups, inp.uo_order)
    ]
    if inp.lump_sum is not None:
        ls = inp.lump_sum
        label = ls.label or (f"{ls.uo_code} — forfait annuel {format_fr(ls.yearly_amount)} €, "
                             f"part {ls.month_index}/{ls.months}")
        lines.append(_line(ls.uo_code, label, 1, ls.share,
                           coefficient if inp.revise_lump_sum else ONE, rounding, "lump_sum"))

    subtotal = sum((line.amount for line in lines), ZERO)
    penalty = compute_penalty(inp.penalty, subtotal, rounding) if inp.penalty is not None else None
    penalties = penalty.amount if penalty is not None else ZERO
    withholdings = quantize_cents(inp.withholdings, rounding)

    reduces_base = inp.penalty_vat_treatment == "reduces_vat_base"
    net = subtotal - withholdings - (penalties if reduces_base else ZERO)
    total_excl_tax = max(net, ZERO)
    unabsorbed = max(-net, ZERO)
    vat = mul_cents(total_excl_tax, inp.vat_rate, inp.vat_rounding)
    total_incl_tax = total_excl_tax + vat
    if reduces_base:
        deducted = ZERO
    else:
        deducted = min(penalties, total_incl_tax)
        unabsorbed += penalties - deducted

    return Statement(
        lines=tuple(lines), revision_coefficient=coefficient, rounding=rounding,
        penalty_vat_treatment=inp.penalty_vat_treatment, subtotal=subtotal, penalty=penalty,
        penalties=penalties, withholdings=withholdings, net_excl_tax_before_floor=net,
        total_excl_tax=total_excl_tax, vat_rate=inp.vat_rate, vat=vat,
        total_incl_tax=total_incl_tax, penalties_deducted_incl_tax=deducted,
        amount_payable=total_incl_tax - deducted, unabsorbed=unabsorbed,
    )


# ---------------------------------------------------------------------------- diffs

@dataclass(frozen=True)
class LineDiff:
    kind: str
    uo_code: str
    #: The line's unit price (the new one for a lump sum whose share changed)
    unit_price: Decimal
    label: str
    old_quantity: int
    new_quantity: int
    quantity_delta: int
    old_amount: Decimal
    new_amount: Decimal
    amount_delta: Decimal

    @property
    def changed(self) -> bool:
        return bool(self.quantity_delta) or bool(self.amount_delta)


@dataclass(frozen=True)
class StatementDiff:
    """``new − old``, line by line and on every total (an adjusting statement)."""
    lines: tuple[LineDiff, ...]
    subtotal_delta: Decimal
    penalties_delta: Decimal
    withholdings_delta: Decimal
    total_excl_tax_delta: Decimal
    vat_delta: Decimal
    total_incl_tax_delta: Decimal
    amount_payable_delta: Decimal
    unabsorbed_delta: Decimal

    @property
    def changed_lines(self) -> tuple[LineDiff, ...]:
        return tuple(d for d in self.lines if d.changed)


def diff_statements(old: Statement, new: Statement) -> StatementDiff:
    """Per-line and per-total differences ``new − old``.

    Lines are matched on (kind, UO code, unit price) — a lump-sum line on (kind, UO
    code) only — so a line present on one side only shows with 0 on the other.  The
    sum of the lines' ``amount_delta`` equals ``subtotal_delta`` exactly.
    """
    old_by_key = {line.key: line for line in old.lines}
    new_by_key = {line.key: line for line in new.lines}
    keys = list(new_by_key) + [k for k in old_by_key if k not in new_by_key]
    keys.sort(key=lambda k: (_uo_sort_key(k[1]), k[0] != "acts", k[2] if k[2] is not None else ZERO))
    diffs = []
    for key in keys:
        o, n = old_by_key.get(key), new_by_key.get(key)
        ref = n or o
        old_q, new_q = (o.quantity if o else 0), (n.quantity if n else 0)
        old_a, new_a = (o.amount if o else ZERO), (n.amount if n else ZERO)
        diffs.append(LineDiff(kind=ref.kind, uo_code=ref.uo_code, unit_price=ref.unit_price,
                              label=ref.label, old_quantity=old_q, new_quantity=new_q,
                              quantity_delta=new_q - old_q, old_amount=old_a, new_amount=new_a,
                              amount_delta=new_a - old_a))
    return StatementDiff(
        lines=tuple(diffs),
        subtotal_delta=new.subtotal - old.subtotal,
        penalties_delta=new.penalties - old.penalties,
        withholdings_delta=new.withholdings - old.withholdings,
        total_excl_tax_delta=new.total_excl_tax - old.total_excl_tax,
        vat_delta=new.vat - old.vat,
        total_incl_tax_delta=new.total_incl_tax - old.total_incl_tax,
        amount_payable_delta=new.amount_payable - old.amount_payable,
        unabsorbed_delta=new.unabsorbed - old.unabsorbed,
    )
