"""Read the shipped population dataset ``data/localities.csv`` (GeoNames, CC BY 4.0).

The file is parsed once per process (``functools.lru_cache``) into immutable
:class:`~fc_market.territory.geo.Locality` named tuples; per-region views are
cached too.  See ``data/LICENSE-localities.md`` for the source and
``scripts/build_localities.py`` to regenerate it.
"""
from __future__ import annotations

import csv
import os
from functools import lru_cache

from fc_market.territory.geo import Locality

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
LOCALITIES_CSV = os.path.join(DATA_DIR, "localities.csv")

#: INSEE region code -> name of the 18 lots (metropolitan first, then overseas)
REGIONS: dict[str, str] = {
    "11": "Île-de-France", "24": "Centre-Val de Loire", "27": "Bourgogne-Franche-Comté",
    "28": "Normandie", "32": "Hauts-de-France", "44": "Grand Est", "52": "Pays de la Loire",
    "53": "Bretagne", "75": "Nouvelle-Aquitaine", "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes", "93": "Provence-Alpes-Côte d'Azur", "94": "Corse",
    "01": "Guadeloupe", "02": "Martinique", "03": "Guyane", "04": "La Réunion", "06": "Mayotte",
}
OVERSEAS_REGIONS = frozenset({"01", "02", "03", "04", "06"})


@lru_cache(maxsize=1)
def _load_all() -> tuple[Locality, ...]:
    rows = []
    with open(LOCALITIES_CSV, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        expected = ["geonameid", "name", "region_code", "departement", "latitude", "longitude",
                    "population"]
        if header != expected:
            raise ValueError(f"{LOCALITIES_CSV}: unexpected header {header!r}")
        for gid, name, region, dep, lat, lon, pop in reader:
            rows.append(Locality(int(gid), name, dep, float(lat), float(lon), int(pop), region))
    return tuple(rows)


@lru_cache(maxsize=None)
def _load_region(region_code: str) -> tuple[Locality, ...]:
    return tuple(l for l in _load_all() if l.region_code == region_code)


def load_localities(region_code: str | None = None) -> tuple[Locality, ...]:
    """All localities, or those of one lot (INSEE region code, e.g. ``"11"``, ``"06"``).

    Raises KeyError for a code that is not one of the 18 lots.
    """
    if region_code is None:
        return _load_all()
    code = str(region_code).zfill(2)
    if code not in REGIONS:
        raise KeyError(f"unknown region code {region_code!r}")
    return _load_region(code)


def clear_cache() -> None:
    """Forget the parsed file (after regenerating it in a running process)."""
    _load_all.cache_clear()
    _load_region.cache_clear()
