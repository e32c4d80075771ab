"""Money arithmetic: Decimal only, every rounding explicit.

Rules followed by every module of ``fc_market`` that handles amounts:

* an amount is a :class:`~decimal.Decimal`, never a ``float``: :func:`D` refuses
  floats (``D(0.1)`` raises ``TypeError``) because ``0.1`` already is
  ``0.1000000000000000055511151231257827…`` in binary;
* a result is rounded once, at a place the caller chose, with a mode that is named
  (:data:`ROUNDING_MODES`: the contract setting ``half_up``, ``half_even`` or
  ``down``, plus the other Decimal modes for internal use);
* rounding helpers here work on exact rational values (:class:`fractions.Fraction`),
  so that a division never rounds twice (once at the Decimal context's precision,
  once at the cent).
"""
from __future__ import annotations

from decimal import (ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_EVEN,
                     ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation)
from fractions import Fraction

__all__ = [
    "CENT", "ROUNDING_MODES", "D", "rounding_mode", "quantize", "quantize_cents",
    "round_fraction", "mul_cents", "pro_rata", "split_evenly", "to_cents", "from_cents", "is_cents",
    "format_fr",
]

#: The quantum of an amount in euros.
CENT = Decimal("0.01")

#: Rounding modes by the name a contract stores (``LotContract.rounding``).
#: Only ``half_up``, ``half_even`` and ``down`` are allowed in a contract; the others
#: exist for internal needs (e.g. a cap that must never be exceeded is rounded down).
ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,       # 0,005 → 0,01 ; −0,005 → −0,01 (ties away from zero)
    "half_even": ROUND_HALF_EVEN,   # 0,005 → 0,00 ; 0,015 → 0,02 (ties to the even cent)
    "down": ROUND_DOWN,             # truncation toward zero
    "half_down": ROUND_HALF_DOWN,
    "up": ROUND_UP,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}
CONTRACT_ROUNDING_NAMES = ("half_up", "half_even", "down")
_DECIMAL_CONSTANTS = set(ROUNDING_MODES.values())


def D(x) -> Decimal:
    """``str``/``int``/``Decimal`` → ``Decimal``; ``float`` (and ``bool``) → ``TypeError``.

    Strings are stripped; NaN and infinities are refused (``ValueError``) since no amount,
    rate or index may be one.
    """
    if isinstance(x, bool):
        raise TypeError("D() refuse les booléens")
    if isinstance(x, float):
        raise TypeError(f"D() refuse les float ({x!r}) : passer une chaîne, un entier ou un Decimal")
    if isinstance(x, Decimal):
        value = x
    elif isinstance(x, int):
        value = Decimal(x)
    elif isinstance(x, str):
        try:
            value = Decimal(x.strip())
        except InvalidOperation:
            raise ValueError(f"« {x} » n'est pas un nombre décimal valide") from None
    else:
        raise TypeError(f"D() accepte str, int ou Decimal, pas {type(x).__name__}")
    if not value.is_finite():
        raise ValueError(f"valeur non finie refusée : {x!r}")
    return value


def rounding_mode(mode) -> str:
    """A mode name (``"half_up"``…) or a ``decimal.ROUND_*`` constant → the constant."""
    if mode in _DECIMAL_CONSTANTS:
        return mode
    try:
        return ROUNDING_MODES[str(mode).strip().lower()]
    except KeyError:
        raise ValueError(f"mode d'arrondi inconnu : {mode!r} (attendu : "
                         f"{', '.join(CONTRACT_ROUNDING_NAMES)})") from None


def _exponent(exp) -> int:
    exp = D(exp)
    if exp <= 0 or exp != Decimal(1).scaleb(exp.adjusted()):
        raise ValueError(f"quantum invalide : {exp} (attendu 1, 0.1, 0.01, …)")
    return exp.adjusted()


def round_fraction(value, exp=CENT, rounding=ROUND_HALF_UP) -> Decimal:
    """Round an exact rational (``Fraction``, ``int`` or ``Decimal``) to ``exp`` once.

    ``exp`` is the quantum (``Decimal("0.01")`` for cents, ``Decimal("0.0001")`` for a
    coefficient at 4 decimals, ``Decimal("1")`` for integers).
    """
    mode = rounding_mode(rounding)
    if isinstance(value, float):
        raise TypeError("round_fraction() refuse les float")
    q = Fraction(value)
    e = _exponent(exp)
    scaled = q / Fraction(10) ** e          # value expressed in quanta
    sign = -1 if scaled < 0 else 1
    magnitude = abs(scaled)
    whole, rest = divmod(magnitude.numerator, magnitude.denominator)
    frac = Fraction(rest, magnitude.denominator)   # 0 <= frac < 1
    half = Fraction(1, 2)
    if frac == 0:
        n = whole
    elif mode == ROUND_DOWN:
        n = whole
    elif mode == ROUND_UP:
        n = whole + 1
    elif mode == ROUND_HALF_UP:
        n = whole + (1 if frac >= half else 0)
    elif mode == ROUND_HALF_DOWN:
        n = whole + (1 if frac > half else 0)
    elif mode == ROUND_HALF_EVEN:
        n = whole + (1 if frac > half or (frac == half and whole % 2 == 1) else 0)
    elif mode == ROUND_CEILING:
        n = whole + (1 if sign > 0 else 0)
    elif mode == ROUND_FLOOR:
        n = whole + (1 if sign < 0 else 0)
    else:  # pragma: no cover - ROUND_05UP is not offered
        raise ValueError(f"mode d'arrondi non pris en charge : {mode}")
    return Decimal(sign * n).scaleb(e) if n else Decimal(0).scaleb(e)


def quantize(amount, exp, rounding=ROUND_HALF_UP) -> Decimal:
    """``amount`` (str/int/Decimal) rounded to the quantum ``exp`` with ``rounding``."""
    return round_fraction(D(amount), exp, rounding)


def quantize_cents(amount, rounding=ROUND_HALF_UP) -> Decimal:
    """``amount`` rounded to the cent, half-up unless told otherwise.

    >>> quantize_cents("2.675"), quantize_cents("2.665", "half_even"), quantize_cents("2.679", "down")
    (Decimal('2.68'), Decimal('2.66'), Decimal('2.67'))
    """
    return round_fraction(D(amount), CENT, rounding)


def pro_rata(total, numerator, denominator, rounding=ROUND_HALF_UP, exp=CENT) -> Decimal:
    """``total × numerator / denominator`` computed exactly, then rounded once to ``exp``.

    E.g. 30 days out of 365 of 1 000,00 € = 82,191780… → 82,19.
    """
    den = Fraction(D(denominator))
    if den == 0:
        raise ZeroDivisionError("pro_rata : dénominateur nul")
    return round_fraction(Fraction(D(total)) * Fraction(D(numerator)) / den, exp, rounding)


def mul_cents(a, b, rounding=ROUND_HALF_UP) -> Decimal:
    """``a × b`` computed exactly (no Decimal-context truncation), rounded once to the cent."""
    return round_fraction(Fraction(D(a)) * Fraction(D(b)), CENT, rounding)


def is_cents(amount) -> bool:
    """Whether ``amount`` is a whole number of cents (no sub-cent digit)."""
    return (Fraction(D(amount)) * 100).denominator == 1


def to_cents(amount) -> int:
    """Exact amount in cents; ``ValueError`` if it has a sub-cent digit."""
    value = Fraction(D(amount)) * 100
    if value.denominator != 1:
        raise ValueError(f"{amount} n'est pas un nombre entier de centimes")
    return value.numerator


def from_cents(cents: int) -> Decimal:
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError("from_cents() attend un entier")
    return Decimal(cents).scaleb(-2)


def split_evenly(total, n: int) -> list[Decimal]:
    """Split ``total`` (a whole number of cents) into ``n`` cents-exact parts.

    The parts differ by at most one cent, sum exactly to ``total``, and the remainder
    cents go to the first parts (for UO4: a yearly lump sum of 10 000,00 € over 12
    months gives 833,34 € for January to April and 833,33 € for May to December,
    4 × 833,34 + 8 × 833,33 = 10 000,00).  A negative total is split the same way,
    the first parts carrying the extra negative cent.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("split_evenly : n doit être un entier")
    if n <= 0:
        raise ValueError("split_evenly : n doit être ≥ 1")
    cents = to_cents(total)
    sign = -1 if cents < 0 else 1
    base, remainder = divmod(abs(cents), n)
    return [from_cents(sign * (base + (1 if i < remainder else 0))) for i in range(n)]


#: Thousands separator of French typography (narrow no-break space).
THOUSANDS_SEP = "\u202f"


def format_fr(value, decimals: int | None = None, sep: str = THOUSANDS_SEP) -> str:
    """French display of a number: decimal comma, thousands grouped.

    ``decimals`` rounds half-up first (display only); ``None`` keeps the value's digits.

    >>> format_fr(Decimal("12000.00"), sep=" "), format_fr(Decimal("0.1"), 2)
    ('12 000,00', '0,10')
    """
    value = D(value)
    if decimals is not None:
        value = quantize(value, Decimal(1).scaleb(-decimals))
    sign = "-" if value < 0 else ""
    text = f"{abs(value):f}"
    whole, _, frac = text.partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sign + sep.join(groups) + ("," + frac if frac else "")
