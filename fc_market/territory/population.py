"""The population of a lot: one figure for every screen, export and indicator.

A lot's population is the sum of the INSEE legal populations of the current communes of its
region (``data/communes.csv.gz``, see :mod:`fc_market.territory.loader`).  The contract file
states a population per lot too; it is only checked against this figure when the market is
loaded (:func:`contract_population_warnings`), never shown in its place.
"""
from __future__ import annotations

from decimal import Decimal

from fc_market.formatting import number
from fc_market.territory.loader import REGIONS, region_population

#: A contract population farther than this from the communes' sum is reported at load time
#: (the same tolerance as the base against INSEE's regional sums, issue 12).
POPULATION_TOLERANCE = Decimal("0.005")


def lot_population(lot) -> int:
    """Inhabitants of the lot: the sum of its communes' legal populations (0 if no region)."""
    code = getattr(lot, "region_code", None)
    return region_population(code) if code in REGIONS else 0


def contract_population_warnings(spec_lots) -> list[str]:
    """French warnings for the lots whose contract population differs from the communes' sum
    by more than :data:`POPULATION_TOLERANCE` (``spec_lots``: the parsed ``[[lots]]``)."""
    out = []
    for lot in spec_lots:
        stated = lot.get("population")
        region = lot.get("region_code")
        if stated is None or region not in REGIONS:
            continue
        base = region_population(region)
        if base and abs(Decimal(stated - base)) > POPULATION_TOLERANCE * base:
            gap = Decimal(stated - base) * 100 / base
            out.append(
                f"lot {lot['code']} ({lot['name']}) : le fichier de marché indique "
                f"{number(stated)} habitants, la somme des populations légales de ses "
                f"communes est de {number(base)} habitants (écart "
                f"{'+' if gap > 0 else '−'}{number(abs(gap), 2)}\u00a0%) ; fc_market affiche "
                f"et calcule avec {number(base)} habitants.")
    return out
