"""Standalone inline SVG map of a lot: sites, 30 km radii and zones blanches.

No tiles, no JavaScript, no network: :func:`render_lot_map` returns a string
to embed as-is in a page (``{{ svg|safe }}``; every text is escaped here).

Projection: equirectangular scaled by cos(mean latitude of the map's
bounding box), i.e. ``x = R·Δlon·cos(φm)``, ``y = R·Δlat``, then fitted to the
bounding box of the lot's localities and sites with margins and expressed in
a viewBox 1000 units wide (the SVG scales to its container).  Distances are
exact along meridians and along the mean parallel; over a region (< 10° of
latitude) the east-west error elsewhere stays within a few percent, so the
scale bar is drawn at the mean latitude.  A 30 km radius is drawn as an
ellipse of ``ry = 30 km`` and ``rx = 30 km · cos(φm) / cos(φsite)`` so that it
is true at the site's latitude.

Marks: permanent site = filled blue square, permanence = hollow blue circle,
itinerant = orange triangle; uncovered localities (zones blanches) = red
circles with an area proportional to the population (the ``max_uncovered``
most populous ones, default 400); covered localities are at most a faint
sample of dots (one ``<path>``, no tooltip).  Each site and zone blanche has a
``<title>`` (hover text).  The 30 km radii and the zones blanches use the
sites whose kind is in ``coverage_kinds`` (default: permanent sites only, the
access rule); pass ``result`` to reuse a computed :class:`CoverageResult`.
"""
from __future__ import annotations

import math
from typing import Any, Iterable
from xml.sax.saxutils import escape

from fc_market.territory.geo import (DEFAULT_RADIUS_KM, KM_PER_DEGREE, CoverageResult,
                                     as_locality, as_site, coverage)

SITE_KIND_LABELS = {"permanent": "Site permanent", "permanence": "Permanence",
                    "itinerant": "Itinérant"}
ZONE_BLANCHE_LABEL = "Zone blanche (population)"
COVERED_LABEL = "Localité couverte"
DEFAULT_ATTRIBUTION = "Population : GeoNames (CC BY 4.0)"

WIDTH = 1000.0
NNBSP = "\u202f"  # narrow no-break space, the French thousands separator

_BLUE = "#1f5fa8"
_ORANGE = "#d9730d"
_RED = "#d62828"
_GREY = "#8a8f98"
_FONT = "font-family=\"Marianne, Arial, Helvetica, sans-serif\""


def format_population(n: int) -> str:
    """``12345`` -> ``"12 345"`` (French grouping with a narrow no-break space)."""
    return f"{int(n):,}".replace(",", NNBSP)


def _attr(value: Any) -> str:
    return escape(str(value), {'"': "&quot;"})


def _f(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _locality_title(loc) -> str:
    return f"{loc.name} – {format_population(loc.population)} hab."


def _site_title(site) -> str:
    label = SITE_KIND_LABELS.get(site.kind, site.kind)
    return f"{site.name or site.id} – {label}"


def _nice_scale(km_per_unit: float, max_units: float) -> float:
    for length in (500, 200, 100, 50, 20, 10, 5, 2, 1):
        if length / km_per_unit <= max_units:
            return float(length)
    return 1.0


def _marker(kind: str, x: float, y: float, size: float = 6.0) -> tuple[str, str]:
    """(tag, attributes) of a site symbol centred on (x, y)."""
    if kind == "permanent":
        return "rect", (f'x="{_f(x - size)}" y="{_f(y - size)}" width="{_f(2 * size)}" '
                        f'height="{_f(2 * size)}" fill="{_BLUE}" stroke="#fff" stroke-width="1.5"')
    if kind == "permanence":
        return "circle", (f'cx="{_f(x)}" cy="{_f(y)}" r="{_f(size)}" fill="#fff" '
                          f'stroke="{_BLUE}" stroke-width="2.5"')
    if kind == "itinerant":
        h = size * 1.2
        pts = f"{_f(x)},{_f(y - h)} {_f(x + h)},{_f(y + h * 0.8)} {_f(x - h)},{_f(y + h * 0.8)}"
        return "polygon", f'points="{pts}" fill="{_ORANGE}" stroke="#fff" stroke-width="1.5"'
    return "circle", f'cx="{_f(x)}" cy="{_f(y)}" r="{_f(size * 0.8)}" fill="{_GREY}"'


def _zone_radius(population: int) -> float:
    return min(18.0, max(1.8, 0.06 * math.sqrt(max(population, 0))))


def render_lot_map(localities: Iterable[Any], sites: Iterable[Any], *, title: str | None = None,
                   radius_km: float = DEFAULT_RADIUS_KM, result: CoverageResult | None = None,
                   coverage_kinds: Iterable[str] = ("permanent",), max_uncovered: int = 400,
                   max_covered_dots: int = 1500, attribution: str | None = DEFAULT_ATTRIBUTION,
                   id_prefix: str = "lotmap") -> str:
    """SVG document (string, no XML declaration) mapping one lot.

    ``localities``: :class:`~fc_market.territory.geo.Locality` or any object
    with ``id, name, departement, lat, lon, population``; ``sites``: objects
    with ``id, name, kind, lat, lon`` (``latitude``/``longitude`` accepted).
    ``id_prefix`` must differ between maps inlined in the same page.
    """
    locs = [as_locality(l) for l in localities]
    all_sites = [as_site(s) for s in sites]
    kinds = frozenset(coverage_kinds)
    counting = [s for s in all_sites if s.kind in kinds]
    if result is None:
        result = coverage(locs, counting, radius_km, nearest=False)
    uncovered_ids = {l.id for l in result.uncovered}
    uncovered = sorted((l for l in locs if l.id in uncovered_ids),
                       key=lambda l: (-l.population, l.name, str(l.id)))
    drawn_uncovered = uncovered[:max(0, max_uncovered)]
    covered = sorted((l for l in locs if l.id not in uncovered_ids),
                     key=lambda l: (-l.population, str(l.id)))[:max(0, max_covered_dots)]

    # ---- projection --------------------------------------------------------
    pts = [(l.lat, l.lon) for l in locs] + [(s.lat, s.lon) for s in all_sites]
    if not pts:
        pts = [(46.6, 2.4)]  # centre of metropolitan France, empty map
    lat_min = min(p[0] for p in pts)
    lat_max = max(p[0] for p in pts)
    lon_min = min(p[1] for p in pts)
    lon_max = max(p[1] for p in pts)
    cos_m = math.cos(math.radians((lat_min + lat_max) / 2.0))
    raw_w = (lon_max - lon_min) * KM_PER_DEGREE * cos_m
    raw_h = (lat_max - lat_min) * KM_PER_DEGREE
    w_km = max(raw_w, 10.0)  # a single point still gets a 10 km wide map
    h_km = max(raw_h, 10.0)
    margin_km = max(0.06 * max(w_km, h_km), 8.0)
    x0_km = lon_min * KM_PER_DEGREE * cos_m - (w_km - raw_w) / 2 - margin_km
    y0_km = lat_max * KM_PER_DEGREE + (h_km - raw_h) / 2 + margin_km
    k = WIDTH / (w_km + 2 * margin_km)  # units per km
    map_h = (h_km + 2 * margin_km) * k

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return ((lon * KM_PER_DEGREE * cos_m - x0_km) * k, (y0_km - lat * KM_PER_DEGREE) * k)

    # ---- legend layout -----------------------------------------------------
    legend = [("permanent", SITE_KIND_LABELS["permanent"]),
              ("permanence", SITE_KIND_LABELS["permanence"]),
              ("itinerant", SITE_KIND_LABELS["itinerant"]),
              ("zone", ZONE_BLANCHE_LABEL),
              ("radius", f"Rayon de {radius_km:g} km".replace(".", ",")),
              ]
    if covered:
        legend.append(("covered", COVERED_LABEL))
    notes = []
    if len(uncovered) > len(drawn_uncovered):
        notes.append(f"Zones blanches : les {format_population(len(drawn_uncovered))} plus "
                     f"peuplées sur {format_population(len(uncovered))} sont représentées")
    if attribution:
        notes.append(attribution)
    cols = 3
    row_h = 26.0
    legend_rows = math.ceil(len(legend) / cols)
    legend_h = 16 + legend_rows * row_h + len(notes) * 20 + 8
    total_h = map_h + legend_h

    doc_title = title or "Carte du lot"
    p = id_prefix
    out: list[str] = []
    a = out.append
    a(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(WIDTH)} {_f(total_h)}" '
      f'role="img" aria-labelledby="{_attr(p)}-title" class="lot-map" {_FONT} font-size="14">')
    a(f'<title id="{_attr(p)}-title">{escape(doc_title)}</title>')
    a(f'<defs><clipPath id="{_attr(p)}-clip"><rect x="0" y="0" width="{_f(WIDTH)}" '
      f'height="{_f(map_h)}"/></clipPath></defs>')
    a(f'<rect x="0" y="0" width="{_f(WIDTH)}" height="{_f(map_h)}" fill="#f4f7fa"/>')
    a(f'<g clip-path="url(#{_attr(p)}-clip)">')

    # 30 km radii of the counting sites
    a(f'<g class="radii" fill="{_BLUE}" fill-opacity="0.08" stroke="{_BLUE}" '
      f'stroke-opacity="0.55" stroke-width="1.2" stroke-dasharray="5 4">')
    for s in counting:
        x, y = xy(s.lat, s.lon)
        ry = radius_km * k
        rx = ry * cos_m / max(math.cos(math.radians(s.lat)), 1e-6)
        if abs(rx - ry) < 0.05:
            a(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(ry)}"/>')
        else:
            a(f'<ellipse cx="{_f(x)}" cy="{_f(y)}" rx="{_f(rx)}" ry="{_f(ry)}"/>')
    a('</g>')

    # covered localities: one path of round dots, no tooltip
    if covered:
        d = "".join(f"M{_f(x)} {_f(y)}h0" for x, y in (xy(l.lat, l.lon) for l in covered))
        a(f'<path class="covered" d="{d}" stroke="#6b7280" stroke-opacity="0.55" '
          f'stroke-width="2.4" stroke-linecap="round" fill="none"/>')

    # zones blanches, biggest first so that small ones stay visible on top
    a(f'<g class="zones-blanches" fill="{_RED}" fill-opacity="0.55" stroke="{_RED}" '
      f'stroke-width="0.8">')
    for l in drawn_uncovered:
        x, y = xy(l.lat, l.lon)
        a(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(_zone_radius(l.population))}">'
          f'<title>{escape(_locality_title(l))}</title></circle>')
    a('</g>')

    # sites: counting kinds last (on top)
    a('<g class="sites">')
    for s in sorted(all_sites, key=lambda s: (s.kind in kinds, str(s.id))):
        x, y = xy(s.lat, s.lon)
        tag, attrs = _marker(s.kind, x, y)
        a(f'<{tag} {attrs}><title>{escape(_site_title(s))}</title></{tag}>')
    a('</g>')
    a('</g>')

    # scale bar (true at the mean latitude)
    length_km = _nice_scale(1.0 / k, WIDTH * 0.22)
    bar = length_km * k
    bx, by = 20.0, map_h - 20.0
    a(f'<g class="scale" stroke="#222" stroke-width="2" fill="none">'
      f'<path d="M{_f(bx)} {_f(by - 6)}v6h{_f(bar)}v-6"/></g>')
    a(f'<text x="{_f(bx + bar / 2)}" y="{_f(by - 10)}" text-anchor="middle" fill="#222">'
      f'{escape(f"{length_km:g} km")}</text>')
    a(f'<rect x="0.5" y="0.5" width="{_f(WIDTH - 1)}" height="{_f(map_h - 1)}" fill="none" '
      f'stroke="#c5ccd6"/>')

    # legend (in French)
    a(f'<g class="legend" transform="translate(0 {_f(map_h)})">')
    col_w = WIDTH / cols
    for i, (key, label) in enumerate(legend):
        cx = 24 + (i % cols) * col_w
        cy = 16 + (i // cols) * row_h + row_h / 2
        if key in SITE_KIND_LABELS:
            tag, attrs = _marker(key, cx, cy)
            a(f'<{tag} {attrs}/>')
        elif key == "zone":
            a(f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="7" fill="{_RED}" fill-opacity="0.55" '
              f'stroke="{_RED}" stroke-width="0.8"/>')
        elif key == "radius":
            a(f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="9" fill="{_BLUE}" fill-opacity="0.08" '
              f'stroke="{_BLUE}" stroke-opacity="0.55" stroke-width="1.2" stroke-dasharray="4 3"/>')
        else:
            a(f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="2" fill="{_GREY}" fill-opacity="0.6"/>')
        a(f'<text x="{_f(cx + 18)}" y="{_f(cy + 5)}" fill="#222">{escape(label)}</text>')
    ny = 16 + legend_rows * row_h + 14
    for note in notes:
        a(f'<text x="16" y="{_f(ny)}" fill="#555" font-size="12">{escape(note)}</text>')
        ny += 20
    a('</g>')
    a('</svg>')
    return "".join(out)
