"""Sites to and from Excel.

The export and the import template share one layout (one row per site), so a mandataire can
export its sites, edit them and upload the file back: each row whose code is unknown becomes
an opening request, each row that differs from the current site a change request (a closing
date alone makes it a closure request), unchanged rows are ignored.  The upload is checked by
:func:`fc_market.excel.safety.check_xlsx` before any parsing and is all-or-nothing: one bad row
and no request is recorded; every error names its row and column, in French.
"""
import secrets
from datetime import date, datetime

from fc_market.exports import Column, Sheet
from fc_market.territory import service
from fc_market.territory.models import SITE_KINDS, WEEKDAYS

#: (field, header) in sheet order
HEADERS = [("code", "Code"), ("name", "Nom"), ("kind", "Type"), ("address", "Adresse"),
           ("postcode", "Code postal"), ("commune", "Commune"), ("departement", "Département"),
           ("latitude", "Latitude"), ("longitude", "Longitude"),
           ("member", "Membre du groupement (SIRET)")] + \
          [(day, day.capitalize()) for day in WEEKDAYS] + \
          [("disabled_access", "Accès PMR (oui/non)"), ("opened_on", "Ouverture"),
           ("closed_on", "Fermeture")]
SHEET = "Sites"
MAX_ROWS = 2000


class ImportRefused(Exception):
    """``errors``: French lines, each naming the row and column."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("\n".join(errors))


def sites_sheet(lot, sites, title=SHEET):
    members = {m.id: m for m in (lot.operator.members if lot.operator else [])}

    def getter(field):
        def get(site):
            if field == "kind":
                return SITE_KINDS.get(site.kind, site.kind)
            if field == "member":
                member = members.get(site.member_id)
                return member.siret if member else None
            if field in WEEKDAYS:
                return (site.opening_hours or {}).get(field)
            if field == "disabled_access":
                return "oui" if site.disabled_access else "non"
            if field in ("latitude", "longitude"):
                return str(getattr(site, field))
            return getattr(site, field)
        return get

    kinds = {"opened_on": "date", "closed_on": "date"}
    columns = [Column(getter(f), h, kinds.get(f, "text")) for f, h in HEADERS]
    return Sheet(title, columns, sites)


def read_rows(data):
    """``[(row number, [cell values])]`` of the ``Sites`` sheet (the first sheet when there is
    none of that name), after the safety check; formulas are refused by the reader."""
    from fc_market.excel import reader
    with reader.open_checked(data, max_rows=MAX_ROWS + 1, max_cols=len(HEADERS) + 20) as book:
        name = SHEET if SHEET in book.sheet_names else book.sheet_names[0]
        return list(book.raw_rows(name, max_rows=MAX_ROWS + 1))


def _header_map(header):
    wanted = {service._norm(h): f for f, h in HEADERS}
    mapping, errors = {}, []
    for i, cell in enumerate(header):
        key = service._norm(cell)
        if key in wanted:
            mapping[wanted[key]] = i
    missing = [h for f, h in HEADERS if f not in mapping and f not in ("address", "postcode",
                                                                       "departement", "closed_on")
               and f not in WEEKDAYS]
    if missing:
        errors.append("Ligne 1 : colonne(s) manquante(s) " + ", ".join(f"« {m} »" for m in missing)
                      + " ; partez du modèle téléchargeable.")
    return mapping, errors


def _cell(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


def import_sites(lot, data, user, *, reason=None):
    """Record the requests of an uploaded sheet; returns (batch key, requests)."""
    if not data:
        raise ImportRefused(["Aucun fichier reçu."])
    from fc_market.excel.safety import WorkbookError
    try:
        rows = read_rows(data)
    except WorkbookError as exc:
        raise ImportRefused([exc.message])
    if not rows:
        raise ImportRefused(["La feuille est vide."])
    mapping, errors = _header_map(rows[0][1])
    if errors:
        raise ImportRefused(errors)
    sites = {s.code: s for s in service.lot_sites(lot)}
    planned, seen = [], {}
    for number, row in rows[1:]:
        raw = {f: _cell(row[i]) if i < len(row) else None for f, i in mapping.items()}
        if all(v in (None, "") for v in raw.values()):
            continue
        if isinstance(raw.get("member"), int):
            raw["member"] = f"{raw['member']:014d}"
        code = str(raw.get("code") or "").strip().upper()
        if code in seen:
            errors.append(f"Ligne {number}, colonne « Code » : code « {code} » déjà présent "
                          f"ligne {seen[code]}")
            continue
        seen[code] = number
        site = sites.get(code)
        values, problems = service.validate_site(lot, raw, site=site)
        for field, message in problems:
            errors.append(f"Ligne {number}, colonne « {_header_of(field)} » : {message}"
                          if field else f"Ligne {number} : {message}")
        if problems:
            continue
        if site is not None:
            current = service.site_values(site)
            if all(current.get(k) == values.get(k) for k in service.EDITABLE):
                continue
            if service._pending_for(site.id):
                errors.append(f"Ligne {number} : une demande est déjà en attente pour le site {code}")
                continue
        planned.append((number, site, raw))
    if len(seen) > MAX_ROWS:
        errors.append(f"Le fichier compte plus de {MAX_ROWS} sites.")
    if errors:
        raise ImportRefused(errors)
    if not planned:
        raise ImportRefused(["Aucune différence avec les sites actuels : aucune demande à créer."])
    batch = f"{date.today():%Y%m%d}-{secrets.token_hex(4)}"
    changes = []
    for number, site, raw in planned:
        try:
            if site is None:
                changes.append(service.propose_open(lot, raw, user, reason=reason, source="excel",
                                                    batch=batch))
            else:
                changes.append(service.propose_update(site, raw, user, reason=reason,
                                                      source="excel", batch=batch))
        except service.SiteError as exc:
            raise ImportRefused([f"Ligne {number} : {m}" for _, m in exc.errors])
    return batch, changes


def _header_of(label):
    """Sheet header for a service field label (labels of weekdays carry the day)."""
    for field, header in HEADERS:
        if service.FIELD_LABELS.get(field) == label:
            return header
    if label and "(" in label:
        return label.split("(")[-1].rstrip(")").capitalize()
    return label
