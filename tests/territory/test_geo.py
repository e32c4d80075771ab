"""Hand-checked geography for the access rule (30 km by default)."""
import math
import random
from dataclasses import dataclass
from decimal import Decimal

import pytest

from fc_market.territory.geo import (DISTANCE_TOLERANCE_KM, EARTH_RADIUS_KM, KM_PER_DEGREE,
                                     Locality, Site, SiteIndex, chord2_of_km, coverage,
                                     haversine_km, km_of_chord2, what_if)

PARIS = (48.85341, 2.3488)
VERSAILLES = (48.80359, 2.13424)
MARSEILLE = (43.29695, 5.38107)


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure-Python module: no app, no database (overrides the conftest fixture)."""
    yield


# --------------------------------------------------------------------------- distances

def test_earth_radius_and_degree_length():
    assert EARTH_RADIUS_KM == 6371.0088
    assert KM_PER_DEGREE == pytest.approx(111.195, abs=1e-3)


def test_paris_versailles_is_about_17_km():
    d = haversine_km(*PARIS, *VERSAILLES)
    assert d == pytest.approx(17.0, abs=0.5)
    assert d == pytest.approx(16.654, abs=0.01)


def test_paris_marseille_is_about_660_km():
    assert haversine_km(*PARIS, *MARSEILLE) == pytest.approx(660.5, abs=1.0)


def test_distance_properties():
    assert haversine_km(*PARIS, *PARIS) == 0.0
    assert haversine_km(*PARIS, *VERSAILLES) == haversine_km(*VERSAILLES, *PARIS)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    # across the antimeridian
    assert haversine_km(0, 179.9, 0, -179.9) == pytest.approx(0.2 * KM_PER_DEGREE, rel=1e-9)


@pytest.mark.parametrize("km", [29.9, 30.0, 30.1])
def test_moving_along_a_meridian(km):
    lat = 45.0 + km / KM_PER_DEGREE
    assert haversine_km(45.0, 5.0, lat, 5.0) == pytest.approx(km, abs=1e-9)


# --------------------------------------------------------------------------- boundary

def _meridian_set():
    site = Site("S", 45.0, 5.0, "Site", "permanent")
    locs = [Locality(i, f"L{km}", "01", 45.0 + km / KM_PER_DEGREE, 5.0, 100)
            for i, km in enumerate((29.9, 30.0, 30.1), start=1)]
    south = [Locality(10 + i, f"S{km}", "01", 45.0 - km / KM_PER_DEGREE, 5.0, 100)
             for i, km in enumerate((29.9, 30.0, 30.1), start=1)]
    return site, locs + south


def test_exactly_30_km_is_covered():
    site, locs = _meridian_set()
    res = coverage(locs, [site])
    assert res.covered_ids == {1, 2, 11, 12}
    assert [l.id for l in res.uncovered] == [3, 13]
    assert res.nearest_km[2] == pytest.approx(30.0, abs=1e-9)
    assert res.nearest_km[3] == pytest.approx(30.1, abs=1e-9)
    assert res.nearest_site_id[3] == "S"


def test_boundary_is_compared_at_the_metre():
    assert DISTANCE_TOLERANCE_KM == 0.0005
    locs = [Locality(i, str(km), "01", 45.0 + km / KM_PER_DEGREE, 5.0, 1)
            for i, km in enumerate((29.999, 30.0, 30.0004, 30.0006, 30.001))]
    res = coverage(locs, [Site("S", 45.0, 5.0)])
    assert res.covered_ids == {0, 1, 2}


def test_usual_degree_approximation_counts_as_30_km():
    # 30 / 111.195 degrees is 30.00002 km with R = 6371.0088 km: still "30.000 km"
    lat = 45.0 + 30 / 111.195
    assert haversine_km(45.0, 5.0, lat, 5.0) == pytest.approx(30.0000216, abs=1e-6)
    res = coverage([Locality(1, "x", "01", lat, 5.0, 1)], [Site("S", 45.0, 5.0)])
    assert res.covered_ids == {1}


def test_east_west_boundary_uses_longitude_scaling():
    # along the equator a degree of longitude is KM_PER_DEGREE
    site = Site("S", 0.0, 10.0)
    inside = Locality(1, "in", "973", 0.0, 10.0 + 30.0 / KM_PER_DEGREE, 5)
    outside = Locality(2, "out", "973", 0.0, 10.0 + 30.1 / KM_PER_DEGREE, 5)
    # at 48.8°N a degree of longitude is ~73 km: 0.41° east is ~30 km
    lat = 48.8
    dlon = math.degrees(2 * math.asin(math.sin(30.0 / EARTH_RADIUS_KM / 2) / math.cos(math.radians(lat))))
    north_in = Locality(3, "n-in", "75", lat, 2.0 + dlon, 5)
    north_out = Locality(4, "n-out", "75", lat, 2.0 + dlon * 1.004, 5)
    res = coverage([inside, outside, north_in, north_out], [site, Site("P", lat, 2.0)])
    assert res.covered_ids == {1, 3}
    assert res.nearest_km[3] == pytest.approx(30.0, abs=1e-6)


# --------------------------------------------------------------------------- coverage

def _small_lot():
    """Three départements around Lyon; distances hand-checked below."""
    locs = [
        Locality(1, "Lyon", "69", 45.76, 4.84, 500_000),
        Locality(2, "Villefranche", "69", 45.99, 4.72, 35_000),      # 27.3 km from Lyon
        Locality(3, "Vienne", "38", 45.52, 4.87, 29_000),            # 26.8 km from Lyon
        Locality(4, "Bourg", "01", 46.20, 5.22, 41_000),             # 56.8 km from Lyon
        Locality(5, "Grenoble", "38", 45.19, 5.72, 158_000),         # 94 km from Lyon
        Locality(6, "Voiron", "38", 45.36, 5.59, 20_000),            # 19.6 km from Grenoble
    ]
    sites = [Site("LYO", 45.76, 4.84, "Lyon", "permanent"),
             Site("GRE", 45.19, 5.72, "Grenoble", "permanent")]
    return locs, sites


def test_hand_distances_of_small_lot():
    assert haversine_km(45.76, 4.84, 45.99, 4.72) == pytest.approx(27.3, abs=0.2)
    assert haversine_km(45.76, 4.84, 45.52, 4.87) == pytest.approx(26.8, abs=0.2)
    assert haversine_km(45.76, 4.84, 46.20, 5.22) == pytest.approx(56.8, abs=0.3)
    assert haversine_km(45.19, 5.72, 45.36, 5.59) == pytest.approx(21.4, abs=0.3)


def test_coverage_of_small_lot():
    locs, sites = _small_lot()
    res = coverage(locs, sites)
    assert res.total_population == 783_000
    assert res.covered_population == 742_000
    assert res.uncovered_population == 41_000
    assert res.share == round(742_000 / 783_000, 6)
    assert res.locality_count == 6 and res.covered_count == 5 and res.uncovered_count == 1
    assert [l.name for l in res.uncovered] == ["Bourg"]
    assert res.is_covered(1) and not res.is_covered(4)
    assert list(res.by_departement) == ["01", "38", "69"]
    d01, d38, d69 = (res.by_departement[d] for d in ("01", "38", "69"))
    assert (d01.total_population, d01.covered_population, d01.share) == (41_000, 0, 0.0)
    assert (d38.total_population, d38.covered_population, d38.locality_count) == (207_000, 207_000, 3)
    assert d69.share == 1.0 and d69.uncovered_count == 0
    assert res.nearest_km[1] == 0.0
    assert res.nearest_site_id[4] == "LYO"
    assert res.nearest_km[4] == pytest.approx(56.8, abs=0.3)
    assert res.nearest_site_id[6] == "GRE"


def test_radius_parameter():
    locs, sites = _small_lot()
    assert coverage(locs, sites, radius_km=60).covered_population == 783_000
    assert coverage(locs, sites, radius_km=20).covered_ids == {1, 5}
    assert coverage(locs, sites, radius_km=0).covered_ids == {1, 5}
    with pytest.raises(ValueError):
        coverage(locs, sites, radius_km=-1)


def test_uncovered_sorted_by_population_desc():
    locs, sites = _small_lot()
    res = coverage(locs, [])
    assert [l.population for l in res.uncovered] == sorted((l.population for l in locs), reverse=True)
    assert res.covered_population == 0 and res.share == 0.0
    assert all(v is None for v in res.nearest_km.values())


def test_empty_lot():
    res = coverage([], [Site("S", 45, 5)])
    assert (res.total_population, res.share, res.uncovered, res.by_departement) == (0, 0.0, (), {})


def test_nearest_can_be_skipped():
    locs, sites = _small_lot()
    res = coverage(locs, sites, nearest=False)
    assert res.nearest_km[4] is None and res.nearest_km[2] is not None


def test_accepts_tuples_and_model_like_objects():
    @dataclass
    class ModelSite:  # like fc_market.territory.models.Site: latitude/longitude as Decimal
        id: int
        latitude: Decimal
        longitude: Decimal
        name: str = "x"
        kind: str = "permanent"

    locs = [(1, "Lyon", "69", 45.76, 4.84, 10), (2, "Bourg", "01", Decimal("46.20"), 5.22, 20)]
    res = coverage(locs, [ModelSite(7, Decimal("45.760000"), Decimal("4.840000"))])
    assert res.covered_ids == {1}
    res = coverage(locs, [(7, 46.2, 5.22)])
    assert res.covered_ids == {2}


def test_site_index_matches_brute_force():
    rnd = random.Random(1234)
    sites = [Site(i, rnd.uniform(-89, 89), rnd.uniform(-180, 180)) for i in range(300)]
    # dense cluster near the antimeridian and the pole too
    sites += [Site(1000 + i, rnd.uniform(-5, 5), rnd.choice((-179.9, 179.9))) for i in range(20)]
    sites += [Site(2000 + i, rnd.uniform(85, 90), rnd.uniform(-180, 180)) for i in range(20)]
    index = SiteIndex(sites, band_km=30.0)
    for _ in range(1500):
        lat, lon = rnd.uniform(-90, 90), rnd.uniform(-180, 180)
        if rnd.random() < 0.3:  # next to a site
            s = rnd.choice(sites)
            lat = max(-90, min(90, s.lat + rnd.uniform(-0.4, 0.4)))
            lon = ((s.lon + rnd.uniform(-0.6, 0.6) + 180) % 360) - 180
        for radius in (30.0, 300.0):
            brute = {s.id for s in sites if haversine_km(lat, lon, s.lat, s.lon) <= radius}
            found = {s.id for s in index.candidates(lat, lon, radius)
                     if haversine_km(lat, lon, s.lat, s.lon) <= radius}
            assert found == brute
        d, s = index.nearest(lat, lon)
        assert d == pytest.approx(min(haversine_km(lat, lon, t.lat, t.lon) for t in sites))


def test_site_index_rejects_bad_coordinates():
    with pytest.raises(ValueError):
        SiteIndex([Site("bad", 95.0, 0.0)])


# --------------------------------------------------------------------------- what-if

def test_what_if_add_site():
    locs, sites = _small_lot()
    w = what_if(locs, sites, add=[Site("BOU", 46.20, 5.22, "Bourg", "permanent")])
    assert w.before.covered_population == 742_000
    assert w.after.covered_population == 783_000
    assert [l.name for l in w.newly_covered] == ["Bourg"]
    assert w.newly_uncovered == ()
    assert (w.population_gained, w.population_lost, w.delta_population) == (41_000, 0, 41_000)
    assert w.delta_share == round(1.0 - round(742_000 / 783_000, 6), 6)
    assert w.added_site_ids == ("BOU",) and w.removed_site_ids == ()


def test_what_if_remove_site():
    locs, sites = _small_lot()
    w = what_if(locs, sites, remove=["GRE"])
    assert [l.name for l in w.newly_uncovered] == ["Grenoble", "Voiron"]
    assert (w.population_gained, w.population_lost) == (0, 178_000)
    assert w.delta_population == -178_000
    assert w.after.covered_population == 742_000 - 178_000
    assert w.after.nearest_site_id[5] == "LYO"


def test_what_if_move_site():
    locs, sites = _small_lot()
    # move the Grenoble site to Voiron: both stay covered (19.6 km), nothing changes
    w = what_if(locs, sites, add=[Site("VOI", 45.36, 5.59)], remove=["GRE"])
    assert w.newly_covered == () and w.newly_uncovered == () and w.delta_population == 0
    # move the Lyon site to Bourg: Bourg gained, Lyon/Villefranche/Vienne lost
    w = what_if(locs, sites, add=[Site("BOU", 46.20, 5.22)], remove=["LYO"])
    assert [l.name for l in w.newly_covered] == ["Bourg"]
    assert [l.name for l in w.newly_uncovered] == ["Lyon", "Villefranche", "Vienne"]
    assert w.delta_population == 41_000 - 564_000
    assert w.after.covered_population - w.before.covered_population == w.delta_population


def test_what_if_rejects_unknown_and_duplicate_ids():
    locs, sites = _small_lot()
    with pytest.raises(ValueError, match="unknown"):
        what_if(locs, sites, remove=["NOPE"])
    with pytest.raises(ValueError, match="reuse"):
        what_if(locs, sites, add=[Site("LYO", 46.0, 5.0)])
    with pytest.raises(ValueError, match="reuse"):
        what_if(locs, sites, add=[Site("A", 46.0, 5.0), Site("A", 46.1, 5.0)])


# --------------------------------------------------------------------------- grid and chords

def test_chord_and_great_circle_distance_are_the_same_test():
    # 30 km on a sphere of radius 6371.0088 km: angle 30/6371.0088 rad, chord 2 sin(angle/2)
    angle = 30.0 / 6371.0088
    assert chord2_of_km(30.0) == pytest.approx((2 * math.sin(angle / 2)) ** 2, rel=1e-15)
    assert km_of_chord2(chord2_of_km(30.0)) == pytest.approx(30.0, abs=1e-9)
    assert km_of_chord2(chord2_of_km(0.0)) == 0.0
    assert km_of_chord2(4.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)  # antipodes


def test_grid_coverage_matches_brute_force_haversine():
    """Points near cell borders (0.25°), near the antimeridian and far north, radii 30/300 km."""
    rnd = random.Random(99)
    sites = [Site(f"s{i}", rnd.uniform(41, 51), rnd.uniform(-5, 9)) for i in range(25)]
    sites += [Site("am1", 0.1, 179.95), Site("am2", -0.1, -179.95), Site("north", 78.2, 15.6)]
    locs = []
    for i in range(3000):
        s = rnd.choice(sites)
        lat = s.lat + rnd.uniform(-0.6, 0.6)
        lon = ((s.lon + rnd.uniform(-0.9, 0.9) + 180) % 360) - 180
        if rnd.random() < 0.3:  # snap onto a cell border
            lat = round(lat * 4) / 4
        locs.append(Locality(i, f"c{i}", "00", lat, lon, rnd.randint(0, 5000)))
    for radius in (30.0, 300.0):
        res = coverage(locs, sites, radius)
        brute = {l.id for l in locs
                 if min(haversine_km(l.lat, l.lon, s.lat, s.lon) for s in sites)
                 <= radius + DISTANCE_TOLERANCE_KM}
        assert res.covered_ids == brute
        assert res.covered_population == sum(l.population for l in locs if l.id in brute)
        for l in locs[::50]:
            assert res.nearest_km[l.id] == pytest.approx(
                min(haversine_km(l.lat, l.lon, s.lat, s.lon) for s in sites), abs=1e-6)


def test_distances_of_zones_blanches_are_computed_on_first_use():
    locs, sites = _small_lot()
    res = coverage(locs, sites)
    assert res.nearest_km._owner._km is None           # shares alone do not pay for them
    assert res.nearest_km[4] == pytest.approx(56.8, abs=0.3)
    assert res.nearest_km._owner._km is not None and len(res.nearest_km) == 6


def test_real_communes_of_corsica_match_brute_force():
    """Every commune of the lot, three sites: the grid agrees with a plain haversine loop."""
    from fc_market.territory.loader import load_localities

    communes = load_localities("94")
    sites = [Site("AJA", 41.91886, 8.73812), Site("BAS", 42.69731, 9.45078),
             Site("COR", 42.30627, 9.15050)]
    res = coverage(communes, sites)
    covered = [c for c in communes
               if min(haversine_km(c.lat, c.lon, s.lat, s.lon) for s in sites) <= 30.0005]
    assert res.covered_population == sum(c.population for c in covered)
    assert res.total_population == 355_486 and res.locality_count == 360
    assert res.uncovered_count == 360 - len(covered)


