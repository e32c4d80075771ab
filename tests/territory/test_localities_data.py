"""The shipped GeoNames population dataset and its loader."""
import csv
import os
import re
from collections import Counter, defaultdict

import pytest

from fc_market.territory import loader
from fc_market.territory.geo import Locality
from fc_market.territory.loader import LOCALITIES_CSV, OVERSEAS_REGIONS, REGIONS, load_localities

LOTS = {"11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94",
        "01", "02", "03", "04", "06"}
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
    with open(LOCALITIES_CSV, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_file_is_small_and_licensed():
    assert os.path.getsize(LOCALITIES_CSV) < 3 * 1024 * 1024
    licence = os.path.join(os.path.dirname(LOCALITIES_CSV), "LICENSE-localities.md")
    text = open(licence, encoding="utf-8").read()
    assert "CC BY 4.0" in text and "GeoNames" in text and "build_localities.py" in text


def test_header(rows):
    assert list(rows[0]) == ["geonameid", "name", "region_code", "departement", "latitude",
                             "longitude", "population"]


def test_the_18_lots_are_present_with_population(rows):
    pop = Counter()
    for r in rows:
        pop[r["region_code"]] += int(r["population"])
    assert set(pop) == LOTS == set(REGIONS)
    assert all(p > 0 for p in pop.values())
    assert 10_000_000 < pop["11"] < 13_000_000       # Île-de-France, GeoNames terms
    assert 50_000_000 < sum(pop.values()) < 68_000_000


def test_rows_are_clean(rows):
    ids = [r["geonameid"] for r in rows]
    assert len(ids) == len(set(ids)) > 15_000
    assert all(int(r["population"]) > 0 for r in rows)
    assert all(r["name"].strip() == r["name"] != "" for r in rows)


def test_coordinates_lie_in_their_territory(rows):
    for r in rows:
        lat, lon = float(r["latitude"]), float(r["longitude"])
        box = BOXES.get(r["region_code"], BOXES["metro"])
        assert box[0] <= lat <= box[1] and box[2] <= lon <= box[3], r


def test_departements_are_consistent_with_regions(rows):
    regions_of = defaultdict(set)
    for r in rows:
        regions_of[r["departement"]].add(r["region_code"])
        assert re.fullmatch(r"0[1-9]|[1-8]\d|9[0-5]|2[AB]|97[1-46]", r["departement"]), r
        assert r["departement"] not in {"20"}
    assert all(len(v) == 1 for v in regions_of.values()), regions_of
    assert len(regions_of) == 101  # 96 metropolitan + 5 overseas
    for region, dep in OVERSEAS_DEPARTEMENTS.items():
        assert regions_of[dep] == {region}
    assert regions_of["75"] == {"11"} and regions_of["2A"] == regions_of["2B"] == {"94"}
    assert regions_of["69"] == {"84"} and regions_of["59"] == {"32"}


def test_no_double_counted_sections(rows):
    names = {r["name"] for r in rows}
    assert not any(re.match(r"(Paris|Lyon|Marseille) \d", n) for n in names)
    assert not {"Marne La Vallée", "Cergy-Pontoise", "Saint-Quentin-en-Yvelines"} & names
    paris = [r for r in rows if r["name"] == "Paris"]
    assert len(paris) == 1 and paris[0]["departement"] == "75"
    assert int(paris[0]["population"]) > 2_000_000


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
    versailles = next(l for l in load_localities("11") if l.name == "Versailles")
    assert versailles.departement == "78"
    assert versailles.lat == pytest.approx(48.80359) and versailles.lon == pytest.approx(2.13424)
    assert isinstance(versailles.population, int) and versailles.population > 80_000
    mamoudzou = next(l for l in load_localities("06") if l.name == "Mamoudzou")
    assert mamoudzou.departement == "976"


def test_clear_cache():
    first = load_localities()
    loader.clear_cache()
    assert load_localities() == first
