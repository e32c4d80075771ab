"""Great-circle distances and the access rule (pure Python, no Flask/DB).

Access rule of the CEP market: the population should have a physical CEP site
within the contract's radius (30 km by default), measured as the great-circle
distance on a sphere.  A lot's *coverage* is the share of its population whose
commune point lies within ``radius_km`` of at least one of the sites passed in
(the caller passes only the open sites of the kinds that count); uncovered
communes are the "zones blanches".  A :class:`Locality` is one commune (``id``
= INSEE code) with its whole legal population at one point.

Conventions
-----------
* Earth radius: :data:`EARTH_RADIUS_KM` = 6371.0088 km, the IUGG mean radius
  R1 = (2a + b) / 3 of the WGS 84 ellipsoid.  The spherical great-circle
  distance differs from the ellipsoidal (geodesic) one by at most ~0.5 %; at
  30 km that is < 150 m, well below the precision of a locality's point.
  One degree of latitude is therefore :data:`KM_PER_DEGREE` = 111.19508 km.
* Boundary: a locality at exactly ``radius_km`` is **covered** (``<=``).
  Distances are compared at the metre, the precision of the coordinates
  (5 decimals of a degree ~ 1.1 m): ``d <= radius_km +``
  :data:`DISTANCE_TOLERANCE_KM` (0.5 m), i.e. a locality whose distance
  rounds to 30.000 km is covered, one at 30.001 km is not.  This also absorbs
  floating-point noise and the usual "30 km = 30 / 111.195 degrees"
  approximation (30.00002 km with this radius).
* Shares are ``float`` in [0, 1], rounded to 6 decimals (0.0001 %), only for
  display and sorting.  The exact figures are the integer populations
  ``covered_population`` / ``total_population``; compute with those.
* Speed (:func:`coverage`): communes are prepared once per lot
  (:class:`PreparedLocalities`: unit vectors and a grid of 0.25° cells); each
  site visits only the cells its disc can reach (latitude rows within the
  radius, longitude columns within the exact spherical bound
  ``asin(sin(r/R) / cos(lat))``) and compares squared chords, which is the
  haversine test without trigonometry per pair.  Distances of the zones
  blanches to their nearest site are computed on first use.  All 18 lots
  (~35,000 communes, ~250 sites) take well under 0.3 s cold, file read
  included (``bench/bench_coverage.py``).  :class:`SiteIndex` (latitude bands
  of sites) serves point queries such as "nearest commune of this site".

Inputs are duck-typed: localities may be :class:`Locality`, any object with
``id, name, departement, lat, lon, population`` attributes (``latitude`` /
``longitude`` are accepted too) or plain tuples ``(id, name, departement, lat,
lon, population)``; sites may be :class:`Site`, objects with ``id, lat, lon``
(or ``latitude``/``longitude``, e.g. the ``Site`` model) or tuples
``(id, lat, lon)``.  Decimal coordinates are converted with ``float``.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Hashable, Iterable, NamedTuple, Sequence

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180.0
DEFAULT_RADIUS_KM = 30.0
DISTANCE_TOLERANCE_KM = 0.0005  # half a metre: distances are compared at the metre
SHARE_DECIMALS = 6

__all__ = [
    "EARTH_RADIUS_KM", "KM_PER_DEGREE", "DEFAULT_RADIUS_KM", "DISTANCE_TOLERANCE_KM",
    "Locality", "Site", "DepartementCoverage", "CoverageResult", "WhatIfResult",
    "SiteIndex", "haversine_km", "coverage", "what_if", "as_locality", "as_site",
]


class Locality(NamedTuple):
    """A populated place (one row of ``localities.csv``)."""
    id: int
    name: str
    departement: str
    lat: float
    lon: float
    population: int
    region_code: str = ""


class Site(NamedTuple):
    """A CEP site as far as geometry is concerned.

    ``kind`` is one of ``permanent``, ``permanence``, ``itinerant`` (as in
    :mod:`fc_market.territory.models`); :func:`coverage` ignores it.
    """
    id: Hashable
    lat: float
    lon: float
    name: str = ""
    kind: str = "permanent"


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two WGS 84 points given in degrees."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    s_dlat = math.sin((p2 - p1) * 0.5)
    s_dlon = math.sin(math.radians(lon2 - lon1) * 0.5)
    h = s_dlat * s_dlat + math.cos(p1) * math.cos(p2) * s_dlon * s_dlon
    if h > 1.0:
        h = 1.0
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


# --------------------------------------------------------------------------- inputs

def _attr(obj, *names):
    for n in names:
        if hasattr(obj, n):
            return getattr(obj, n)
    raise AttributeError(f"{type(obj).__name__} has none of {names}")


def as_locality(obj: Any) -> Locality:
    """Normalise a locality given as :class:`Locality`, object or tuple."""
    if isinstance(obj, Locality):
        return obj
    if hasattr(obj, "population") and (hasattr(obj, "lat") or hasattr(obj, "latitude")):
        return Locality(obj.id, getattr(obj, "name", ""), getattr(obj, "departement", "") or "",
                        float(_attr(obj, "lat", "latitude")), float(_attr(obj, "lon", "longitude")),
                        int(obj.population), getattr(obj, "region_code", "") or "")
    ident, name, dep, lat, lon, pop = tuple(obj)[:6]
    return Locality(ident, name, dep, float(lat), float(lon), int(pop))


def as_site(obj: Any) -> Site:
    """Normalise a site given as :class:`Site`, object (``lat``/``latitude``) or tuple."""
    if isinstance(obj, Site):
        return obj
    if hasattr(obj, "lat") or hasattr(obj, "latitude"):
        return Site(obj.id, float(_attr(obj, "lat", "latitude")),
                    float(_attr(obj, "lon", "longitude")),
                    getattr(obj, "name", "") or "", getattr(obj, "kind", "permanent") or "permanent")
    t = tuple(obj)
    return Site(t[0], float(t[1]), float(t[2]), *t[3:5])


# --------------------------------------------------------------------------- index

class SiteIndex:
    """Sites bucketed in latitude bands, sorted by longitude inside a band."""

    def __init__(self, sites: Iterable[Any], band_km: float = DEFAULT_RADIUS_KM):
        self.sites: tuple[Site, ...] = tuple(as_site(s) for s in sites)
        self.band_deg = max(band_km, 1e-3) / KM_PER_DEGREE
        buckets: dict[int, list[tuple[float, int]]] = {}
        for i, s in enumerate(self.sites):
            if not (-90.0 <= s.lat <= 90.0 and -180.0 <= s.lon <= 180.0):
                raise ValueError(f"site {s.id!r}: coordinates out of range ({s.lat}, {s.lon})")
            buckets.setdefault(math.floor(s.lat / self.band_deg), []).append((s.lon, i))
        self._bands: dict[int, tuple[list[float], list[Site]]] = {}
        for b, items in buckets.items():
            items.sort()
            self._bands[b] = ([lon for lon, _ in items], [self.sites[i] for _, i in items])

    def __len__(self):
        return len(self.sites)

    def candidates(self, lat: float, lon: float, radius_km: float):
        """Sites inside the spherical bounding box of the ``radius_km`` disc."""
        ang = radius_km / EARTH_RADIUS_KM
        dlat = math.degrees(ang) + 1e-9
        coslat = math.cos(math.radians(lat))
        s = math.sin(min(ang, math.pi / 2)) / coslat if coslat > 1e-12 else 2.0
        if ang >= math.pi / 2 or s >= 1.0:
            windows = [(-180.0, 180.0)]
        else:
            dlon = math.degrees(math.asin(s)) + 1e-9
            lo, hi = lon - dlon, lon + dlon
            windows = [(lo, hi)]
            if lo < -180.0:
                windows.append((lo + 360.0, 180.0))
            if hi > 180.0:
                windows.append((-180.0, hi - 360.0))
        bands = self._bands
        for b in range(math.floor((lat - dlat) / self.band_deg),
                       math.floor((lat + dlat) / self.band_deg) + 1):
            band = bands.get(b)
            if band is None:
                continue
            lons, sites = band
            for lo, hi in windows:
                for i in range(bisect_left(lons, lo), bisect_right(lons, hi)):
                    yield sites[i]

    def nearest_within(self, lat: float, lon: float, radius_km: float):
        """``(distance_km, site)`` of the nearest site within ``radius_km``, else None."""
        best = None
        limit = radius_km + DISTANCE_TOLERANCE_KM
        for s in self.candidates(lat, lon, radius_km):
            d = haversine_km(lat, lon, s.lat, s.lon)
            if d <= limit and (best is None or d < best[0]):
                best = (d, s)
        return best

    def nearest(self, lat: float, lon: float, start_km: float = DEFAULT_RADIUS_KM):
        """``(distance_km, site)`` of the nearest site whatever the distance (None if no site)."""
        if not self.sites:
            return None
        r = max(start_km, 1.0)
        while r < 2500.0:
            found = self.nearest_within(lat, lon, r)
            if found is not None:
                return found
            r *= 2.0
        return min(((haversine_km(lat, lon, s.lat, s.lon), s) for s in self.sites),
                   key=lambda t: t[0])


# --------------------------------------------------------------------------- results

def _share(covered: int, total: int) -> float:
    return round(covered / total, SHARE_DECIMALS) if total else 0.0


def _by_population(locs: Iterable[Locality]) -> tuple[Locality, ...]:
    return tuple(sorted(locs, key=lambda l: (-l.population, l.name, str(l.id))))


@dataclass(frozen=True)
class DepartementCoverage:
    departement: str
    total_population: int
    covered_population: int
    locality_count: int
    uncovered_count: int

    @property
    def share(self) -> float:
        return _share(self.covered_population, self.total_population)

    @property
    def uncovered_population(self) -> int:
        return self.total_population - self.covered_population


@dataclass(frozen=True)
class CoverageResult:
    """Coverage of a set of localities by a set of sites.

    ``share`` is a float rounded to 6 decimals (see module doc); use the integer
    populations for exact arithmetic.  ``nearest_km`` / ``nearest_site_id`` map
    each locality id to its nearest site (distance in km, unbounded) or None
    when there is no site at all.
    """
    radius_km: float
    total_population: int
    covered_population: int
    share: float
    locality_count: int
    covered_count: int
    by_departement: dict[str, DepartementCoverage]
    uncovered: tuple[Locality, ...]
    covered_ids: frozenset
    nearest_km: Mapping[Hashable, float | None] = field(repr=False, compare=False)
    nearest_site_id: Mapping[Hashable, Hashable | None] = field(repr=False, compare=False)

    @property
    def uncovered_population(self) -> int:
        return self.total_population - self.covered_population

    @property
    def uncovered_count(self) -> int:
        return self.locality_count - self.covered_count

    def is_covered(self, locality_id: Hashable) -> bool:
        return locality_id in self.covered_ids


@dataclass(frozen=True)
class WhatIfResult:
    """Before/after coverage when sites are added and/or removed.

    ``newly_covered`` / ``newly_uncovered`` are sorted by population desc;
    ``delta_population`` = ``population_gained - population_lost`` =
    ``after.covered_population - before.covered_population``.
    """
    before: CoverageResult
    after: CoverageResult
    added_site_ids: tuple
    removed_site_ids: tuple
    newly_covered: tuple[Locality, ...]
    newly_uncovered: tuple[Locality, ...]
    population_gained: int
    population_lost: int

    @property
    def delta_population(self) -> int:
        return self.population_gained - self.population_lost

    @property
    def delta_share(self) -> float:
        return round(self.after.share - self.before.share, SHARE_DECIMALS)


# --------------------------------------------------------------------------- API

class _Nearest:
    """Distances to the nearest site, computed on first use (``km`` and ``site`` mappings).

    Covered localities already know their nearest site from the coverage pass; uncovered ones
    are compared with every site when a screen first asks for a distance, so that computing
    shares alone never pays for it.
    """

    def __init__(self, prep, units, best, best_site, uncovered_idx, enabled):
        self._args = (prep, units, best, best_site, uncovered_idx, enabled)
        self._km = None
        self._site = None
        self.km = _LazyMap(self, "_km")
        self.site = _LazyMap(self, "_site")

    def compute(self):
        if self._km is not None:
            return
        prep, units, best, best_site, uncovered_idx, enabled = self._args
        X, Y, Z = prep.x, prep.y, prep.z
        km, site = {}, {}
        todo = set(uncovered_idx)
        for i, loc in enumerate(prep.localities):
            c2 = best[i]
            sid = best_site[i]
            if i in todo:
                if enabled and units:
                    x, y, z = X[i], Y[i], Z[i]
                    for sx, sy, sz, s_id in units:
                        dx = x - sx
                        dy = y - sy
                        dz = z - sz
                        d2 = dx * dx + dy * dy + dz * dz
                        if d2 < c2:
                            c2, sid = d2, s_id
                else:
                    km[loc.id] = site[loc.id] = None
                    continue
            km[loc.id] = km_of_chord2(c2)
            site[loc.id] = sid
        self._km, self._site = km, site
        self._args = None


class _LazyMap(Mapping):
    def __init__(self, owner, attr):
        self._owner, self._attr = owner, attr

    def _data(self):
        self._owner.compute()
        return getattr(self._owner, self._attr)

    def __getitem__(self, key):
        return self._data()[key]

    def __iter__(self):
        return iter(self._data())

    def __len__(self):
        return len(self._data())


class PreparedLocalities:
    """Localities with their unit vectors and a grid of cells, ready for :func:`coverage`.

    Great-circle distance ``d`` and chord ``c`` between two points of the sphere are tied by
    ``c = 2 sin(d / 2R)``: comparing squared chords of unit vectors is the exact haversine test
    without any trigonometry per pair.  Localities are bucketed in cells of
    :data:`CELL_DEG` degrees; a site only looks at the cells its disc can reach.
    Build it once per set of localities (the service caches one per lot).
    """

    def __init__(self, localities: Iterable[Any]):
        self.localities: tuple[Locality, ...] = tuple(as_locality(l) for l in localities)
        xs, ys, zs = [], [], []
        cells: dict[tuple[int, int], list[int]] = {}
        rad = math.radians
        for i, l in enumerate(self.localities):
            p, q = rad(l.lat), rad(l.lon)
            c = math.cos(p)
            xs.append(c * math.cos(q))
            ys.append(c * math.sin(q))
            zs.append(math.sin(p))
            cells.setdefault((math.floor(l.lat / CELL_DEG), math.floor(l.lon / CELL_DEG)),
                             []).append(i)
        self.x, self.y, self.z = xs, ys, zs
        self.cells = cells

    def __len__(self):
        return len(self.localities)


#: Cell size of :class:`PreparedLocalities` (degrees of latitude and longitude)
CELL_DEG = 0.25


def _unit(lat: float, lon: float) -> tuple[float, float, float]:
    p, q = math.radians(lat), math.radians(lon)
    c = math.cos(p)
    return c * math.cos(q), c * math.sin(q), math.sin(p)


def chord2_of_km(d_km: float) -> float:
    """Squared chord (unit sphere) of a great-circle distance in km."""
    s = 2.0 * math.sin(min(d_km / EARTH_RADIUS_KM, math.pi) / 2.0)
    return s * s


def km_of_chord2(c2: float) -> float:
    """Great-circle distance in km of a squared chord of the unit sphere."""
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(max(c2, 0.0)) / 2.0))


def _cell_ranges(lat: float, lon: float, radius_km: float):
    """Rows and column ranges of the cells a disc of ``radius_km`` can touch."""
    ang = radius_km / EARTH_RADIUS_KM
    dlat = math.degrees(ang) + 1e-9
    rows = range(math.floor((lat - dlat) / CELL_DEG), math.floor((lat + dlat) / CELL_DEG) + 1)
    coslat = math.cos(math.radians(min(89.999, abs(lat) + dlat)))
    s = math.sin(min(ang, math.pi / 2)) / coslat if coslat > 1e-12 else 2.0
    if ang >= math.pi / 2 or s >= 1.0:
        return rows, [range(math.floor(-180 / CELL_DEG), math.floor(180 / CELL_DEG) + 1)]
    dlon = math.degrees(math.asin(s)) + 1e-9
    lo, hi = lon - dlon, lon + dlon
    cols = [range(math.floor(lo / CELL_DEG), math.floor(hi / CELL_DEG) + 1)]
    if lo < -180.0:
        cols.append(range(math.floor((lo + 360.0) / CELL_DEG), math.floor(180 / CELL_DEG) + 1))
    if hi > 180.0:
        cols.append(range(math.floor(-180 / CELL_DEG), math.floor((hi - 360.0) / CELL_DEG) + 1))
    return rows, cols


def coverage(localities: Iterable[Any] | PreparedLocalities, sites: Iterable[Any] | SiteIndex,
             radius_km: float = DEFAULT_RADIUS_KM, *, nearest: bool = True) -> CoverageResult:
    """Population of ``localities`` within ``radius_km`` (inclusive) of any of ``sites``.

    ``nearest=False`` skips the (unbounded) nearest-site search for uncovered
    localities; their ``nearest_km`` is then None (covered ones always get theirs).
    """
    radius_km = float(radius_km)
    if radius_km < 0:
        raise ValueError("radius_km must be >= 0")
    prep = localities if isinstance(localities, PreparedLocalities) else PreparedLocalities(localities)
    site_list = list(sites.sites) if isinstance(sites, SiteIndex) else [as_site(s) for s in sites]
    for s in site_list:
        if not (-90.0 <= s.lat <= 90.0 and -180.0 <= s.lon <= 180.0):
            raise ValueError(f"site {s.id!r}: coordinates out of range ({s.lat}, {s.lon})")
    locs = prep.localities
    n = len(locs)
    X, Y, Z = prep.x, prep.y, prep.z
    cells = prep.cells
    limit = chord2_of_km(radius_km + DISTANCE_TOLERANCE_KM)
    inf = float("inf")
    best = [inf] * n
    best_site: list = [None] * n
    units = []
    for s in site_list:
        sx, sy, sz = _unit(s.lat, s.lon)
        units.append((sx, sy, sz, s.id))
        rows, col_ranges = _cell_ranges(s.lat, s.lon, radius_km)
        for r in rows:
            for cols in col_ranges:
                for c in cols:
                    members = cells.get((r, c))
                    if members is None:
                        continue
                    for i in members:
                        dx = X[i] - sx
                        dy = Y[i] - sy
                        dz = Z[i] - sz
                        c2 = dx * dx + dy * dy + dz * dz
                        if c2 < best[i]:
                            best[i] = c2
                            best_site[i] = s.id

    covered_ids = set()
    uncovered = []
    uncovered_idx = []
    dep_tot: dict[str, list[int]] = {}
    total = covered = 0
    for i, loc in enumerate(locs):
        pop = loc.population
        total += pop
        agg = dep_tot.get(loc.departement)
        if agg is None:
            agg = dep_tot[loc.departement] = [0, 0, 0, 0]  # total, covered, count, uncovered
        agg[0] += pop
        agg[2] += 1
        if best[i] <= limit:
            covered += pop
            agg[1] += pop
            covered_ids.add(loc.id)
        else:
            agg[3] += 1
            uncovered.append(loc)
            uncovered_idx.append(i)
    nearest_map = _Nearest(prep, units, best, best_site, uncovered_idx, nearest)

    by_dep = {d: DepartementCoverage(d, a[0], a[1], a[2], a[3])
              for d, a in sorted(dep_tot.items(), key=lambda kv: str(kv[0]))}
    return CoverageResult(
        radius_km=radius_km, total_population=total, covered_population=covered,
        share=_share(covered, total), locality_count=n,
        covered_count=n - len(uncovered), by_departement=by_dep,
        uncovered=_by_population(uncovered), covered_ids=frozenset(covered_ids),
        nearest_km=nearest_map.km, nearest_site_id=nearest_map.site)


def what_if(localities: Iterable[Any], sites: Iterable[Any], add: Sequence[Any] = (),
            remove: Iterable[Hashable] = (), radius_km: float = DEFAULT_RADIUS_KM,
            *, nearest: bool = True) -> WhatIfResult:
    """Coverage before and after adding ``add`` sites and removing ``remove`` site ids.

    Raises ValueError if a removed id is not among ``sites`` or an added site
    reuses an existing id.
    """
    prep = localities if isinstance(localities, PreparedLocalities) else PreparedLocalities(localities)
    locs = prep.localities
    current = [as_site(s) for s in sites]
    added = [as_site(s) for s in add]
    remove_ids = list(dict.fromkeys(remove))
    ids = {s.id for s in current}
    unknown = [i for i in remove_ids if i not in ids]
    if unknown:
        raise ValueError(f"cannot remove unknown site ids: {unknown!r}")
    clash = [s.id for s in added if s.id in ids]
    if clash or len({s.id for s in added}) != len(added):
        raise ValueError(f"added sites reuse site ids: {clash or [s.id for s in added]!r}")
    gone = set(remove_ids)
    new_sites = [s for s in current if s.id not in gone] + added

    before = coverage(prep, current, radius_km, nearest=nearest)
    after = coverage(prep, new_sites, radius_km, nearest=nearest)
    gained = _by_population(l for l in locs
                            if l.id in after.covered_ids and l.id not in before.covered_ids)
    lost = _by_population(l for l in locs
                          if l.id in before.covered_ids and l.id not in after.covered_ids)
    return WhatIfResult(
        before=before, after=after, added_site_ids=tuple(s.id for s in added),
        removed_site_ids=tuple(remove_ids), newly_covered=gained, newly_uncovered=lost,
        population_gained=sum(l.population for l in gained),
        population_lost=sum(l.population for l in lost))
