"""Service-fait control (CSF) sampling: how many acts, from which UO, which ones, and what follows.

* :func:`sample_size` — Cochran's size for a proportion with the finite population
  correction;
* :func:`allocate` — split the size between strata (UO codes) in proportion to their
  billed value, by the largest remainder method;
* :func:`draw_sample` — a reproducible draw from a stored seed;
* :func:`rate_with_ci` — the non-conformity rate found, with a Wilson interval;
* :func:`withholding` — the amount withheld, item by item or by extrapolation.

Floats: the z-score is the only value computed in binary floating point
(``statistics.NormalDist().inv_cdf``); it is converted at once to a ``Decimal`` at
6 decimals (1,959964 for 95 %) and everything after that is exact rational or
``Decimal`` arithmetic.  No amount of money ever goes through a float.
"""
from __future__ import annotations

import hashlib
import math
import platform
import random
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from statistics import NormalDist
from typing import Iterable, Mapping

from fc_market.money import CENT, D, format_fr, round_fraction
from fc_market.controls.models import Verdict

__all__ = [
    "METHOD", "NONCONFORMING_STATUSES", "z_score", "SampleSize", "sample_size", "Allocation",
    "allocate", "Draw", "draw_sample", "stratum_seed", "act_key", "seed_input", "METHOD_V1", "RateEstimate", "rate_with_ci",
    "ControlledItem", "Extrapolation", "WithholdingResult", "withholding",
]

#: Name and version of the drawing method, stored with each draw.  Bump the version if
#: anything that changes which items are drawn for the same inputs changes.
#: v2 (current): each act is known by its stable key (:func:`act_key`, no database id) and
#: a stratum's generator is seeded with SHA-256(seed + "|" + UO code).
#: v1 (campaigns opened before): database ids, SHA-256(seed + U+001F + UO code).
METHOD = "stratified-proportional-value/v2"
METHOD_V1 = "stratified-proportional-value/v1"
METHODS = (METHOD, METHOD_V1)
#: Separator between the seed and the UO code in the hash of each stratum, by method
SEPARATORS = {METHOD: "|", METHOD_V1: "\x1f"}
#: Separator between the fields of an act's stable key
KEY_SEPARATOR = ";"
#: Statuses of a controlled act that lead to withholding its value.
NONCONFORMING_STATUSES = (Verdict.NONCONFORMING, Verdict.UNPROVEN)
Z_QUANTUM = Decimal("0.000001")
SIX = Decimal("0.000001")
FOUR = Decimal("0.0001")


def _pct(value: Decimal) -> str:
    """0.95 → '95 %' ; 0.975 → '97,5 %'."""
    return f"{format_fr((D(value) * 100).normalize())} %"


def _check_fraction(value, what) -> Decimal:
    value = D(value)
    if not 0 < value < 1:
        raise ValueError(f"{what} doit être strictement entre 0 et 1 ({value})")
    return value


def _int(value, what, minimum=0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} doit être un entier")
    if value < minimum:
        raise ValueError(f"{what} doit être ≥ {minimum}")
    return value


def z_score(confidence=Decimal("0.95")) -> Decimal:
    """Two-sided normal quantile for ``confidence``, as a Decimal at 6 decimals.

    The float from ``NormalDist().inv_cdf`` is converted through its ``repr`` (the
    shortest string that round-trips) and rounded half-up: 0.95 → 1.959964,
    0.99 → 2.575829, 0.90 → 1.644854.
    """
    c = _check_fraction(confidence, "le niveau de confiance")
    z = NormalDist().inv_cdf(float(1 - (1 - c) / 2))
    return round_fraction(Decimal(repr(z)), Z_QUANTUM, ROUND_HALF_UP)


# ------------------------------------------------------------------ sample size

@dataclass(frozen=True)
class SampleSize:
    population: int
    confidence: Decimal
    margin: Decimal
    expected_rate: Decimal
    z: Decimal
    #: Size for an infinite population, rounded to 4 decimals for display
    n0: Decimal
    #: Size after the finite population correction, before rounding up (4 decimals)
    n_corrected: Decimal
    #: Sample size: n_corrected rounded up to the next integer
    n: int
    explanation: str


def sample_size(population: int, margin=Decimal("0.10"), confidence=Decimal("0.95"),
                expected_rate=Decimal("0.5"), z=None) -> SampleSize:
    """Cochran: ``n0 = z² p (1 − p) / e²``, then ``n = n0 / (1 + (n0 − 1) / N)``, rounded up.

    ``z`` may be forced (e.g. ``Decimal("1.96")``, the usual textbook value) instead of
    being derived from ``confidence``.  The computation is exact from ``z`` on; ``n0``
    and the corrected size are rounded to 4 decimals only for display.  For N = 1 000,
    e = 10 %, 95 %, p = 0,5: n0 = 96,0365, n = 87,7016 → 88.
    """
    population = _int(population, "la population")
    e = _check_fraction(margin, "la marge d'erreur")
    p = _check_fraction(expected_rate, "la proportion attendue")
    c = _check_fraction(confidence, "le niveau de confiance")
    z = z_score(c) if z is None else D(z)
    if z <= 0:
        raise ValueError("z doit être positif")

    n0 = Fraction(z) ** 2 * Fraction(p) * (1 - Fraction(p)) / Fraction(e) ** 2
    if population == 0:
        corrected = Fraction(0)
    else:
        corrected = n0 / (1 + (n0 - 1) / population)
    n = min(math.ceil(corrected), population)
    n0_d = round_fraction(n0, FOUR)
    corrected_d = round_fraction(corrected, FOUR)

    N = format_fr(population)
    steps = [
        f"Taille d'échantillon pour une population de N = {N} actes, niveau de confiance "
        f"{_pct(c)}, marge d'erreur ± {_pct(e)}, proportion attendue p = {format_fr(p)} :",
        f"1. z = {format_fr(z)} (quantile de la loi normale, bilatéral à {_pct(c)}) ;",
        f"2. n0 = z² × p × (1 − p) / e² = {format_fr(z)}² × {format_fr(p)} × "
        f"{format_fr(1 - p)} / {format_fr(e)}² = {format_fr(n0_d)} ;",
    ]
    if population:
        steps.append(
            f"3. correction pour population finie : n = n0 / (1 + (n0 − 1) / N) = "
            f"{format_fr(n0_d)} / (1 + {format_fr(n0_d - 1)} / {N}) = {format_fr(corrected_d)} ;")
        steps.append(f"4. arrondi à l'entier supérieur : n = {n}"
                     + (" (plafonné à la population)." if math.ceil(corrected) > population
                        else "."))
    else:
        steps.append("3. population vide : aucun acte à contrôler, n = 0.")
    return SampleSize(population=population, confidence=c, margin=e, expected_rate=p, z=z,
                      n0=n0_d, n_corrected=corrected_d, n=n, explanation="\n".join(steps))


# ------------------------------------------------------------------- allocation

@dataclass(frozen=True)
class Allocation:
    #: The size asked for (capped at the population)
    target: int
    #: Acts to draw per stratum
    sizes: dict[str, int]
    #: Proportional quotas before rounding (4 decimals, display)
    quotas: dict[str, Decimal]
    total: int
    min_per_stratum: int
    #: "billed_value", or "count" when no stratum has any billed value
    basis: str
    explanation: str


def _largest_remainder(seats: int, weights: dict[str, Fraction]):
    """Hamilton's method: integer parts of the quotas, then the largest remainders."""
    total_weight = sum(weights.values())
    quotas = {k: Fraction(seats) * w / total_weight for k, w in weights.items()}
    sizes = {k: math.floor(q) for k, q in quotas.items()}
    left = seats - sum(sizes.values())
    order = sorted(weights, key=lambda k: (-(quotas[k] - sizes[k]), -weights[k], k))
    for k in order[:left]:
        sizes[k] += 1
    return sizes, quotas


def allocate(strata: Mapping[str, tuple[int, Decimal]], n: int,
             min_per_stratum: int = 0) -> Allocation:
    """Split ``n`` between strata in proportion to their billed value.

    ``strata`` maps a UO code to ``(number of acts, billed value)``.  Quotas
    ``n × value / total value`` are computed exactly; each stratum gets the integer
    part, and the seats left go to the largest fractional parts (ties: larger value,
    then code).  A stratum is never given more acts than it has: a stratum whose quota
    reaches its count is taken whole and the other strata share the rest again.  Then
    each stratum is raised to ``min(min_per_stratum, count)``: **the total may thus
    exceed n** — minimums are added, not taken from the other strata, so that the
    precision aimed at by ``n`` is kept.  If no stratum has any billed value, counts
    are used as weights.
    """
    n = _int(n, "la taille d'échantillon")
    min_per_stratum = _int(min_per_stratum, "le minimum par strate")
    counts, values = {}, {}
    for code, (count, value) in strata.items():
        counts[code] = _int(count, f"l'effectif de {code}")
        values[code] = D(value)
        if values[code] < 0:
            raise ValueError(f"valeur facturée négative pour {code}")
    population = sum(counts.values())
    target = min(n, population)
    basis = "billed_value" if any(values[k] > 0 for k in counts if counts[k]) else "count"

    sizes = {k: 0 for k in counts}
    quotas: dict[str, Fraction] = {k: Fraction(0) for k in counts}
    open_ = [k for k in counts if counts[k] > 0]
    seats = target
    while open_ and seats > 0:
        weights = {k: Fraction(values[k] if basis == "billed_value" else counts[k]) for k in open_}
        if sum(weights.values()) == 0:      # only zero-value strata left: by count
            weights = {k: Fraction(counts[k]) for k in open_}
        round_sizes, round_quotas = _largest_remainder(seats, weights)
        full = [k for k in open_ if round_quotas[k] >= counts[k]]
        if not full:
            sizes.update(round_sizes)
            quotas.update(round_quotas)
            break
        for k in full:
            sizes[k] = counts[k]
            quotas[k] = round_quotas[k]
            seats -= counts[k]
        open_ = [k for k in open_ if k not in full]

    proportional = dict(sizes)
    for k in counts:
        sizes[k] = min(counts[k], max(sizes[k], min(min_per_stratum, counts[k])))
    total = sum(sizes.values())

    lines = [f"Répartition de n = {n} actes (population {population}) au prorata de la "
             + ("valeur facturée" if basis == "billed_value" else "l'effectif")
             + f", méthode du plus fort reste, minimum {min_per_stratum} par strate :"]
    for k in counts:
        extra = sizes[k] - proportional[k]
        lines.append(f"- {k} : {counts[k]} acte(s), {format_fr(values[k])} € ; quota "
                     f"{format_fr(round_fraction(quotas[k], FOUR))} → {proportional[k]}"
                     + (f", relevé au minimum → {sizes[k]}" if extra else ""))
    lines.append(f"Total : {total}" + (f" (> {target} du fait des minimums par strate)"
                                        if total > target else ""))
    return Allocation(target=target, sizes=sizes,
                      quotas={k: round_fraction(q, FOUR) for k, q in quotas.items()},
                      total=total, min_per_stratum=min_per_stratum, basis=basis,
                      explanation="\n".join(lines))


# ------------------------------------------------------------------------ draw

@dataclass(frozen=True)
class Draw:
    method: str
    seed: str
    #: Selected item ids per stratum, sorted
    selected: dict[str, tuple]
    #: The integer seeding each stratum's generator, as hex (audit)
    stratum_seeds: dict[str, str]
    #: Python version that made the draw (``Random.sample`` is not guaranteed across versions)
    python_version: str = field(default_factory=platform.python_version)

    @property
    def size(self) -> int:
        return sum(len(ids) for ids in self.selected.values())


def act_key(period: str, uo_code: str, act_date, beneficiary_id: str) -> str:
    """The stable key of a billed act, what the draw sorts on (method v2):
    ``"2025-03;UO1;2025-03-10;<64 hex>"`` (month controlled, UO code, act date
    AAAA-MM-JJ, pseudonymised beneficiary).  Unique in a validated version (a duplicate
    is refused at import) and the same in every copy of the data: no database id."""
    day = act_date.isoformat() if hasattr(act_date, "isoformat") else str(act_date)
    return KEY_SEPARATOR.join((period, uo_code, day, beneficiary_id))


def seed_input(seed: str, stratum: str, method: str = METHOD) -> str:
    """The text hashed to seed a stratum: the seed, the method's separator, the UO code."""
    return f"{seed}{SEPARATORS[method]}{stratum}"


def stratum_seed(seed: str, stratum: str, method: str = METHOD) -> int:
    """``int(SHA-256(UTF-8 of seed + "|" + stratum))``, read big-endian: one independent
    generator per stratum (v1: the separator was U+001F)."""
    digest = hashlib.sha256(seed_input(seed, stratum, method).encode("utf-8")).digest()
    return int.from_bytes(digest, "big")


def draw_sample(items_by_stratum: Mapping[str, Iterable], allocation: Allocation | Mapping[str, int],
                seed: str, method: str = METHOD) -> Draw:
    """Draw ``allocation`` items per stratum, reproducibly from ``seed``.

    Method ``stratified-proportional-value/v2``: for each stratum, the items' keys
    (:func:`act_key`) are sorted (Python's ``sorted``, by code point), a
    ``random.Random`` is seeded with :func:`stratum_seed` ``(seed, stratum)`` and
    ``rng.sample(sorted_keys, k)`` picks ``k`` of them without replacement.  The
    same seed, ids and sizes give the same draw whatever the order the ids came in;
    each stratum's draw depends only on its own ids (adding a stratum changes nothing
    elsewhere).  CPython keeps ``Random.sample`` stable in practice but does not
    promise it across versions: the Python version is stored with the draw.
    """
    if not isinstance(seed, str) or not seed:
        raise ValueError("la graine doit être une chaîne non vide")
    if method not in METHODS:
        raise ValueError(f"méthode de tirage inconnue : {method}")
    sizes = allocation.sizes if isinstance(allocation, Allocation) else dict(allocation)
    selected, seeds = {}, {}
    for stratum, k in sizes.items():
        k = _int(k, f"la taille de la strate {stratum}")
        ids = list(items_by_stratum.get(stratum, ()))
        ordered = sorted(ids)
        if len(set(ordered)) != len(ordered):
            raise ValueError(f"identifiants en double dans la strate {stratum}")
        if k > len(ordered):
            raise ValueError(f"strate {stratum} : {k} actes demandés, {len(ordered)} disponibles")
        s = stratum_seed(seed, stratum, method)
        rng = random.Random(s)
        selected[stratum] = tuple(sorted(rng.sample(ordered, k)))
        seeds[stratum] = format(s, "064x")
    return Draw(method=method, seed=seed, selected=selected, stratum_seeds=seeds)


# ------------------------------------------------------------------ estimation

@dataclass(frozen=True)
class RateEstimate:
    nonconforming: int
    sample_n: int
    population_n: int
    confidence: Decimal
    z: Decimal
    #: Finite population correction (N − n) / (N − 1) applied to the variance
    fpc: Decimal
    #: Rates as fractions at 6 decimals: rate half-up, lower bound down, upper bound up
    rate: Decimal
    lower: Decimal
    upper: Decimal
    method: str = "wilson-fpc"
    explanation: str = ""


def _sqrt(value: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 50
        return (Decimal(value.numerator) / Decimal(value.denominator)).sqrt()


def rate_with_ci(nonconforming: int, sample_n: int, population_n: int,
                 confidence=Decimal("0.95")) -> RateEstimate:
    """Non-conformity rate ``x / n`` and its Wilson score interval.

    Finite population correction: the variance ``p (1 − p) / n`` is multiplied by
    ``f = (N − n) / (N − 1)``, which amounts to Wilson's formula with ``z² f`` in
    place of ``z²``::

        k = z² f ;  centre = (p + k / 2n) / (1 + k / n)
        half-width = √(k × (p (1 − p) / n + k / 4n²)) / (1 + k / n)

    With the whole population controlled (n = N), f = 0 and the interval shrinks to
    the rate itself.  Bounds are clamped to [0, 1], the lower one rounded down and the
    upper one up to 6 decimals, so that the rounded interval contains the exact one.
    """
    x = _int(nonconforming, "le nombre de non-conformités")
    n = _int(sample_n, "la taille d'échantillon", 1)
    N = _int(population_n, "la population", 1)
    if x > n:
        raise ValueError("plus de non-conformités que d'actes contrôlés")
    if n > N:
        raise ValueError("échantillon plus grand que la population")
    c = _check_fraction(confidence, "le niveau de confiance")
    z = z_score(c)
    p = Fraction(x, n)
    f = Fraction(N - n, N - 1) if N > 1 else Fraction(0)
    k = Fraction(z) ** 2 * f
    denom = 1 + k / n
    centre = (p + k / (2 * n)) / denom
    radicand = k * (p * (1 - p) / n + k / (4 * n * n))
    half = _sqrt(radicand) / (Decimal(denom.numerator) / Decimal(denom.denominator)) \
        if radicand else Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 50
        centre_d = Decimal(centre.numerator) / Decimal(centre.denominator)
        low, high = max(centre_d - half, Decimal(0)), min(centre_d + half, Decimal(1))
    rate = round_fraction(p, SIX, ROUND_HALF_UP)
    lower = round_fraction(low, SIX, ROUND_FLOOR)
    upper = round_fraction(high, SIX, ROUND_CEILING)
    text = (f"Taux de non-conformité : {x} / {n} = {format_fr(rate)} ; intervalle de Wilson à "
            f"{_pct(c)} (z = {format_fr(z)}, correction de population finie f = (N − n) / (N − 1)"
            f" = ({N} − {n}) / ({N} − 1) = {format_fr(round_fraction(f, SIX))}) : "
            f"[{format_fr(lower)} ; {format_fr(upper)}].")
    return RateEstimate(nonconforming=x, sample_n=n, population_n=N, confidence=c, z=z,
                        fpc=round_fraction(f, SIX), rate=rate, lower=lower, upper=upper,
                        explanation=text)


# ------------------------------------------------------------------ withholding

@dataclass(frozen=True)
class ControlledItem:
    item_id: object
    value: Decimal
    #: "conforme", "non_conforme" or "non_justifie" (proof missing)
    status: str

    def __post_init__(self):
        object.__setattr__(self, "value", D(self.value))
        if self.status not in Verdict.CHOICES:
            raise ValueError(f"statut de contrôle inconnu : {self.status}")


@dataclass(frozen=True)
class Extrapolation:
    """Extrapolate a stratum's sample: ``nonconforming / sample_n × stratum_billed_value``."""
    nonconforming: int
    sample_n: int
    stratum_billed_value: Decimal

    def __post_init__(self):
        _int(self.nonconforming, "le nombre de non-conformités")
        _int(self.sample_n, "la taille d'échantillon", 1)
        if self.nonconforming > self.sample_n:
            raise ValueError("plus de non-conformités que d'actes contrôlés")
        object.__setattr__(self, "stratum_billed_value", D(self.stratum_billed_value))


@dataclass(frozen=True)
class WithholdingResult:
    amount: Decimal
    #: "items" or "extrapolation"
    method: str
    #: Ids of the items withheld (items method)
    item_ids: tuple = ()
    #: Exact rate used (extrapolation), at 6 decimals for display
    rate: Decimal | None = None
    explanation: str = ""


def withholding(items: Iterable[ControlledItem] | None = None, *,
                extrapolation: Extrapolation | None = None, rounding="half_up") -> WithholdingResult:
    """Amount to withhold after a control: exactly one of ``items`` or ``extrapolation``.

    * items: the sum of the values of the non-conforming and unproven items;
    * extrapolation: ``nonconforming / sample_n × stratum_billed_value`` computed
      exactly (the rate is not rounded first), then rounded once to the cent
      (half-up by default).
    """
    if (items is None) == (extrapolation is None):
        raise ValueError("indiquer soit les actes contrôlés, soit une extrapolation")
    if items is not None:
        bad = [i for i in items if i.status in NONCONFORMING_STATUSES]
        amount = round_fraction(sum((Fraction(i.value) for i in bad), Fraction(0)), CENT, rounding)
        text = (f"Retenue sur {len(bad)} acte(s) non conforme(s) ou non justifié(s) : "
                + " + ".join(format_fr(i.value) for i in bad) + f" = {format_fr(amount)} €"
                if bad else "Aucun acte non conforme : pas de retenue.")
        return WithholdingResult(amount=amount, method="items",
                                 item_ids=tuple(i.item_id for i in bad), explanation=text)
    ex = extrapolation
    exact_rate = Fraction(ex.nonconforming, ex.sample_n)
    amount = round_fraction(exact_rate * Fraction(ex.stratum_billed_value), CENT, rounding)
    text = (f"Extrapolation : {ex.nonconforming} / {ex.sample_n} × "
            f"{format_fr(ex.stratum_billed_value)} € = {format_fr(amount)} €")
    return WithholdingResult(amount=amount, method="extrapolation",
                             rate=round_fraction(exact_rate, SIX), explanation=text)
