"""Sites and the maillage: requests (open, change, close), FC decisions, coverage.

A mandataire never changes a site directly: it files a :class:`SiteChange` with the proposed
values; France compétences approves (the change is applied to the site with an audit entry,
the request stays as history) or refuses with a comment.  Coverage is computed with the pure
:mod:`fc_market.territory.geo` over every current commune of the lot's region with its INSEE
legal population (:mod:`fc_market.territory.loader`), under the contract's radius and site
kinds (:func:`coverage_terms`); results are cached per set of sites.
"""
from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time as dt_time
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from fc_market.audit import service as audit
from fc_market.extensions import db
from fc_market.market.models import Lot, OperatorMember
from fc_market.models_base import utcnow
from fc_market.territory import geo
from fc_market.market.terms import default_terms, lot_terms
from fc_market.territory.loader import ATTRIBUTION, load_localities
from fc_market.territory.population import lot_population
from fc_market.territory.models import (SITE_KINDS, WEEKDAYS, ChangeAction, ChangeStatus, Site,
                                        SiteChange)

#: The two readings of coverage: the contract's kinds, and those plus the permanences
COVERAGE_MODES = ("permanent", "with_permanences")
#: A site farther than this from every commune point of its lot is refused (wrong coordinates)
MAX_KM_FROM_LOT = 40.0

FIELD_LABELS = {
    "code": "Code", "name": "Nom", "kind": "Type", "address": "Adresse", "postcode": "Code postal",
    "commune": "Commune", "departement": "Département", "latitude": "Latitude",
    "longitude": "Longitude", "member_id": "Membre du groupement", "opening_hours": "Horaires",
    "disabled_access": "Accès personnes handicapées", "opened_on": "Ouverture",
    "closed_on": "Fermeture",
}
EDITABLE = ("code", "name", "kind", "address", "postcode", "commune", "departement", "latitude",
            "longitude", "member_id", "opening_hours", "disabled_access", "opened_on", "closed_on")


SIX = Decimal("0.000001")


class SiteError(ValueError):
    """A refused request; ``errors`` is a list of (field label, French message)."""

    def __init__(self, errors):
        self.errors = errors if isinstance(errors, list) else [(None, str(errors))]
        super().__init__("; ".join(f"{f} : {m}" if f else m for f, m in self.errors))


# --------------------------------------------------------------------------- validation

def _norm(text):
    text = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    return " ".join(text.lower().replace("-", " ").replace("'", " ").split())


def find_locality(lot, commune, departement=None):
    """The lot's most populous commune named ``commune`` (accents and hyphens ignored)."""
    key = _norm(commune)
    if not key:
        return None
    matches = [l for l in load_localities(lot.region_code) if _norm(l.name) == key]
    if departement:
        matches = [l for l in matches if l.departement == departement] or matches
    return max(matches, key=lambda l: l.population, default=None)


@lru_cache(maxsize=32)
def _locality_index(region_code):
    """Localities of a region as an index (site name = département, for the lookup)."""
    return geo.SiteIndex([geo.Site(l.id, l.lat, l.lon, l.departement)
                          for l in load_localities(region_code)])


def _parse_date(value, label, errors):
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    errors.append((label, f"date invalide « {text} » (format attendu JJ/MM/AAAA)"))
    return None


def _parse_coord(value, label, low, high, errors):
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        errors.append((label, f"nombre attendu, « {value} » reçu"))
        return None
    if not number.is_finite() or not low <= number <= high:
        errors.append((label, f"doit être comprise entre {low} et {high} degrés"))
        return None
    return number.quantize(SIX)


def _parse_bool(value, label, errors):
    if isinstance(value, bool):
        return value
    text = _norm(value)
    if text in ("oui", "o", "yes", "vrai", "true", "1", "x"):
        return True
    if text in ("", "non", "n", "no", "faux", "false", "0"):
        return False
    errors.append((label, f"« oui » ou « non » attendu, « {value} » reçu"))
    return False


_TIME = re.compile(r"^(\d{1,2})(?:[:hH](\d{2})?)?$")


def _time(text):
    m = _TIME.match(text)
    if not m:
        raise ValueError(text)
    return dt_time(int(m.group(1)), int(m.group(2) or 0))


def parse_hours(spec, label, errors):
    """``09:00-12:30,13:30-17:30`` (or ``9h-12h30``) → normalised text; None when closed."""
    text = str(spec or "").strip().replace(" ", "").replace(";", ",")
    if not text or text.lower() in ("ferme", "fermé", "-"):
        return None
    slots = []
    for part in text.split(","):
        start, sep, end = part.partition("-")
        try:
            times = (_time(start), _time(end)) if sep else None
        except ValueError:
            times = None
        if not times or times[0] >= times[1]:
            errors.append((label, f"plage horaire invalide « {part} » (format 09:00-12:30,"
                                  "13:30-17:30)"))
            return None
        slots.append(times)
    slots.sort()
    for (_, end), (start, _) in zip(slots, slots[1:]):
        if start < end:
            errors.append((label, "plages horaires qui se chevauchent"))
            return None
    return ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in slots)


def validate_site(lot, raw, *, site=None, partial=False):
    """Check proposed site values; returns (values, errors).

    ``raw`` maps field names to user input (strings, or typed Excel cells); hours are under
    the weekday names.  ``member`` may be a member id, a SIRET or a legal name.  Missing
    coordinates are taken from the commune (its town-hall point or centre); a site far from
    every commune point of the lot is refused.  ``values`` is JSON-safe (stored as the request's proposal).
    """
    errors = []
    v = {}
    code = str(raw.get("code") or "").strip().upper()
    if not code:
        errors.append((FIELD_LABELS["code"], "champ obligatoire"))
    elif len(code) > 32 or not all(ch.isalnum() or ch in "-_." for ch in code):
        errors.append((FIELD_LABELS["code"], "32 caractères au plus : lettres, chiffres, - _ ."))
    else:
        clash = db.session.scalar(sa.select(Site.id).where(Site.lot_id == lot.id, Site.code == code))
        if clash and (site is None or clash != site.id):
            errors.append((FIELD_LABELS["code"], f"le code « {code} » est déjà pris par un autre site du lot"))
    v["code"] = code
    for field, limit, required in (("name", 200, True), ("address", 300, False),
                                   ("commune", 120, True)):
        text = " ".join(str(raw.get(field) or "").split())
        if required and not text:
            errors.append((FIELD_LABELS[field], "champ obligatoire"))
        elif len(text) > limit:
            errors.append((FIELD_LABELS[field], f"{limit} caractères au plus"))
        v[field] = text or None
    kind = str(raw.get("kind") or "").strip()
    by_label = {_norm(label): key for key, label in SITE_KINDS.items()}
    kind = kind if kind in SITE_KINDS else by_label.get(_norm(kind))
    if kind is None:
        errors.append((FIELD_LABELS["kind"], "« Site permanent », « Permanence » ou « Itinérant » attendu"))
    v["kind"] = kind
    postcode = str(raw.get("postcode") or "").strip()
    if isinstance(raw.get("postcode"), float):
        postcode = f"{int(raw['postcode']):05d}"
    if postcode and not (len(postcode) == 5 and postcode.isdigit()):
        errors.append((FIELD_LABELS["postcode"], "cinq chiffres attendus"))
    v["postcode"] = postcode or None
    lat = _parse_coord(raw.get("latitude"), FIELD_LABELS["latitude"], -90, 90, errors)
    lon = _parse_coord(raw.get("longitude"), FIELD_LABELS["longitude"], -180, 180, errors)
    departement = str(raw.get("departement") or "").strip().upper() or None
    if (lat is None) != (lon is None):
        errors.append((FIELD_LABELS["latitude"], "latitude et longitude vont ensemble"))
    elif lat is None and v["commune"] and not any(f == FIELD_LABELS["latitude"] for f, _ in errors):
        loc = find_locality(lot, v["commune"], departement)
        if loc is None:
            errors.append((FIELD_LABELS["latitude"], f"coordonnées absentes et commune « {v['commune']} » "
                                                     "introuvable dans le lot : indiquez-les"))
        else:
            lat = Decimal(f"{loc.lat:.6f}")
            lon = Decimal(f"{loc.lon:.6f}")
    if lat is not None and lon is not None:
        nearest = _locality_index(lot.region_code).nearest(float(lat), float(lon), 10.0)
        if nearest is not None and nearest[0] > MAX_KM_FROM_LOT:
            errors.append((FIELD_LABELS["latitude"],
                           f"le point ({lat}, {lon}) est à {nearest[0]:.0f} km de la localité la plus "
                           f"proche du lot {lot.code} : vérifiez les coordonnées (inversées ?)"))
        elif nearest is not None and not departement:
            departement = nearest[1].name
    v["latitude"] = str(lat) if lat is not None else None
    v["longitude"] = str(lon) if lon is not None else None
    if departement and (len(departement) > 3 or not departement.isalnum()):
        errors.append((FIELD_LABELS["departement"], "code de département invalide (ex. 75, 2A, 974)"))
    v["departement"] = departement
    v["member_id"] = _member_id(lot, raw.get("member"), errors)
    hours = {}
    for day in WEEKDAYS:
        spec = parse_hours(raw.get(day), f"{FIELD_LABELS['opening_hours']} ({day})", errors)
        if spec:
            hours[day] = spec
    v["opening_hours"] = hours or None
    v["disabled_access"] = _parse_bool(raw.get("disabled_access"),
                                       FIELD_LABELS["disabled_access"], errors)
    opened = _parse_date(raw.get("opened_on"), FIELD_LABELS["opened_on"], errors)
    closed = _parse_date(raw.get("closed_on"), FIELD_LABELS["closed_on"], errors)
    if opened is None and not any(f == FIELD_LABELS["opened_on"] for f, _ in errors):
        errors.append((FIELD_LABELS["opened_on"], "champ obligatoire"))
    if opened and closed and closed < opened:
        errors.append((FIELD_LABELS["closed_on"], "la fermeture précède l'ouverture"))
    v["opened_on"] = opened.isoformat() if opened else None
    v["closed_on"] = closed.isoformat() if closed else None
    return v, errors


def _member_id(lot, value, errors):
    if value in (None, ""):
        return None
    members = lot.operator.members if lot.operator else []
    text = str(value).strip()
    if isinstance(value, int) or text.isdigit() and len(text) < 14:
        found = next((m for m in members if m.id == int(text)), None)
    else:
        digits = text.replace(" ", "")
        found = next((m for m in members if m.siret == digits or _norm(m.legal_name) == _norm(text)),
                     None)
    if found is None:
        errors.append((FIELD_LABELS["member_id"], f"« {text} » n'est pas un membre du groupement "
                                                  "du lot (SIRET ou raison sociale)"))
        return None
    return found.id


def site_values(site):
    """The current values of a site, in the JSON-safe shape of a proposal."""
    return {"code": site.code, "name": site.name, "kind": site.kind, "address": site.address,
            "postcode": site.postcode, "commune": site.commune, "departement": site.departement,
            "latitude": str(Decimal(site.latitude).quantize(SIX)),
            "longitude": str(Decimal(site.longitude).quantize(SIX)),
            "member_id": site.member_id, "opening_hours": site.opening_hours or None,
            "disabled_access": bool(site.disabled_access),
            "opened_on": site.opened_on.isoformat(),
            "closed_on": site.closed_on.isoformat() if site.closed_on else None}


def raw_from_values(values):
    """Proposal values back to form input (to prefill a change form)."""
    raw = dict(values)
    raw["member"] = values.get("member_id")
    for day in WEEKDAYS:
        raw[day] = (values.get("opening_hours") or {}).get(day, "")
    return raw


def _typed(values):
    """JSON proposal → model attribute values."""
    out = dict(values)
    out["latitude"] = Decimal(values["latitude"])
    out["longitude"] = Decimal(values["longitude"])
    out["opened_on"] = date.fromisoformat(values["opened_on"])
    out["closed_on"] = date.fromisoformat(values["closed_on"]) if values.get("closed_on") else None
    return out


# --------------------------------------------------------------------------- requests

def _pending_for(site_id):
    return db.session.scalar(sa.select(SiteChange).where(SiteChange.site_id == site_id,
                                                         SiteChange.status == ChangeStatus.PENDING))


def propose_open(lot, raw, user, *, reason=None, source="web", batch=None):
    values, errors = validate_site(lot, raw)
    if not errors:
        clash = db.session.scalar(sa.select(SiteChange.id).where(
            SiteChange.lot_id == lot.id, SiteChange.action == ChangeAction.OPEN,
            SiteChange.status == ChangeStatus.PENDING,
            SiteChange.proposed["code"].as_string() == values["code"]))
        if clash:
            errors.append((FIELD_LABELS["code"], f"une demande d'ouverture du site « {values['code']} » "
                                                 "est déjà en attente"))
    if errors:
        raise SiteError(errors)
    change = SiteChange(lot_id=lot.id, action=ChangeAction.OPEN, proposed=values, reason=reason,
                        source=source, batch=batch, created_by_id=getattr(user, "id", None))
    db.session.add(change)
    db.session.flush()
    audit.record("site_change.propose", change, user=user,
                 summary=f"Demande d'ouverture du site {values['code']} ({values['name']}) — lot {lot.code}",
                 changes={"proposé": values})
    return change


def propose_update(site, raw, user, *, reason=None, source="web", batch=None):
    lot = site.lot
    values, errors = validate_site(lot, raw, site=site)
    if not errors and _pending_for(site.id):
        errors.append((None, f"Une demande est déjà en attente pour le site {site.code} : "
                             "attendez la décision ou retirez-la."))
    current = site_values(site)
    diff = {k: [current.get(k), values.get(k)] for k in EDITABLE if current.get(k) != values.get(k)}
    if not errors and not diff:
        errors.append((None, "Aucune modification par rapport au site actuel."))
    if errors:
        raise SiteError(errors)
    action = ChangeAction.CLOSE if set(diff) == {"closed_on"} and values["closed_on"] else ChangeAction.UPDATE
    change = SiteChange(lot_id=lot.id, site_id=site.id, action=action, proposed=values,
                        previous=current, base_revision=site.revision, reason=reason,
                        source=source, batch=batch, created_by_id=getattr(user, "id", None))
    db.session.add(change)
    db.session.flush()
    audit.record("site_change.propose", change, user=user,
                 summary=f"Demande de {'fermeture' if action == 'close' else 'modification'} du site "
                         f"{site.code} — lot {lot.code}", changes=diff)
    return change


def propose_close(site, closed_on, user, *, reason=None):
    errors = []
    day = _parse_date(closed_on, FIELD_LABELS["closed_on"], errors)
    if day is None and not errors:
        errors.append((FIELD_LABELS["closed_on"], "champ obligatoire"))
    if day and day < site.opened_on:
        errors.append((FIELD_LABELS["closed_on"], "la fermeture précède l'ouverture du site"))
    if site.closed_on and day and site.closed_on <= day:
        errors.append((FIELD_LABELS["closed_on"], f"le site est déjà fermé au {site.closed_on:%d/%m/%Y}"))
    if not (reason or "").strip():
        errors.append(("Motif", "indiquez le motif de la fermeture"))
    if not errors and _pending_for(site.id):
        errors.append((None, f"Une demande est déjà en attente pour le site {site.code}."))
    if errors:
        raise SiteError(errors)
    current = site_values(site)
    values = dict(current, closed_on=day.isoformat())
    change = SiteChange(lot_id=site.lot_id, site_id=site.id, action=ChangeAction.CLOSE,
                        proposed=values, previous=current, base_revision=site.revision,
                        reason=reason.strip(), created_by_id=getattr(user, "id", None))
    db.session.add(change)
    db.session.flush()
    audit.record("site_change.propose", change, user=user,
                 summary=f"Demande de fermeture du site {site.code} au {day:%d/%m/%Y} — lot {site.lot.code}",
                 changes={"closed_on": [current["closed_on"], values["closed_on"]]})
    return change


def _lock(change, expected_counter):
    if expected_counter is not None and int(expected_counter) != change.version_counter:
        raise SiteError("Cette demande a été traitée ou modifiée entre-temps par quelqu'un d'autre : "
                        "rechargez la page.")
    if change.status != ChangeStatus.PENDING:
        raise SiteError(f"Cette demande est déjà « {change.status_label.lower()} » : rien n'a été modifié.")


def decide(change, approve, comment, user, *, expected_counter=None):
    """FC's decision; an approval applies the proposal to the site (new revision, audit).

    Four eyes: whoever filed the request does not decide it."""
    _lock(change, expected_counter)
    if not can_decide(change, user):
        raise SiteError("Vous avez déposé cette demande : la décision revient à un(e) autre "
                        "chargé(e) de marché. Rien n'a été modifié.")
    comment = (comment or "").strip()
    if not approve and not comment:
        raise SiteError([("Commentaire", "un refus doit être motivé")])
    if approve:
        site = _apply(change, user)
        change.site_id = site.id
    change.status = ChangeStatus.APPROVED if approve else ChangeStatus.REFUSED
    change.decided_at = utcnow()
    change.decided_by_id = user.id
    change.decision_comment = comment or None
    try:
        db.session.flush()
    except StaleDataError:
        raise SiteError("Cette demande a été traitée entre-temps par quelqu'un d'autre : rechargez la page.")
    audit.record("site_change.approve" if approve else "site_change.refuse", change, user=user,
                 summary=f"{change.action_label} ({change.proposed.get('code')}) "
                         f"{'approuvée' if approve else 'refusée'} — lot {change.lot.code}"
                         + (f" : {comment}" if comment else ""))
    return change


def _apply(change, user):
    values = _typed(change.proposed)
    if change.action == ChangeAction.OPEN:
        errors = []
        if db.session.scalar(sa.select(Site.id).where(Site.lot_id == change.lot_id,
                                                      Site.code == values["code"])):
            errors.append((FIELD_LABELS["code"], f"le code « {values['code']} » a été pris entre-temps"))
        if errors:
            raise SiteError(errors)
        site = Site(lot_id=change.lot_id, **{k: values[k] for k in EDITABLE})
        db.session.add(site)
        db.session.flush()
        audit.record("site.open", site, user=user, summary=f"Site {site.code} ({site.name}) ouvert "
                     f"par décision sur la demande n° {change.id}", changes={"créé": change.proposed})
        return site
    site = db.session.get(Site, change.site_id, with_for_update=True)
    if change.base_revision is not None and site.revision != change.base_revision:
        raise SiteError(f"Le site {site.code} a été modifié depuis cette demande (révision "
                        f"{change.base_revision} → {site.revision}) : refusez-la et faites "
                        "déposer une nouvelle demande.")
    changed = audit.diff(site, {k: values[k] for k in EDITABLE})
    site.revision += 1
    audit.record("site.close" if change.action == ChangeAction.CLOSE else "site.update", site,
                 user=user, summary=f"Site {site.code} {'fermé' if change.action == 'close' else 'modifié'} "
                 f"par décision sur la demande n° {change.id}", changes=changed)
    return site


def withdraw(change, user):
    """The author takes back a pending request; anyone else must decide it (a refusal is
    motivated), so a withdrawal never stands in for a refusal."""
    _lock(change, None)
    if not can_withdraw(change, user):
        raise SiteError("Seul l'auteur de la demande peut la retirer ; sinon elle est approuvée "
                        "ou refusée (avec un motif) par France compétences. Rien n'a été modifié.")
    change.status = ChangeStatus.WITHDRAWN
    change.decided_at = utcnow()
    change.decided_by_id = user.id
    audit.record("site_change.withdraw", change, user=user,
                 summary=f"Demande n° {change.id} retirée — lot {change.lot.code}")
    return change


def can_withdraw(change, user):
    return change.created_by_id is not None and change.created_by_id == getattr(user, "id", None)


def can_decide(change, user):
    return change.created_by_id is None or change.created_by_id != getattr(user, "id", None)


def approve_batch(lot, batch, comment, user):
    """Approve every pending request of one import, in one transaction."""
    changes = db.session.scalars(sa.select(SiteChange).where(
        SiteChange.lot_id == lot.id, SiteChange.batch == batch,
        SiteChange.status == ChangeStatus.PENDING).order_by(SiteChange.id)).all()
    if not changes:
        raise SiteError("Aucune demande en attente dans cet import.")
    for change in changes:
        decide(change, True, comment, user)
    return changes


# --------------------------------------------------------------------------- queries

def lot_sites(lot):
    return db.session.scalars(sa.select(Site).where(Site.lot_id == lot.id)
                              .options(selectinload(Site.member))
                              .order_by(Site.closed_on.is_not(None), Site.kind, Site.code)).all()


def changes_of(lot=None, status=None, site=None):
    stmt = (sa.select(SiteChange).options(selectinload(SiteChange.created_by),
                                          selectinload(SiteChange.decided_by),
                                          selectinload(SiteChange.lot))
            .order_by(SiteChange.created_at.desc(), SiteChange.id.desc()))
    if lot is not None:
        stmt = stmt.where(SiteChange.lot_id == lot.id)
    if site is not None:
        stmt = stmt.where(SiteChange.site_id == site.id)
    if status is not None:
        stmt = stmt.where(SiteChange.status == status)
    return db.session.scalars(stmt).all()


def pending_counts():
    rows = db.session.execute(sa.select(SiteChange.lot_id, sa.func.count()).where(
        SiteChange.status == ChangeStatus.PENDING).group_by(SiteChange.lot_id)).all()
    return dict(rows)


# --------------------------------------------------------------------------- coverage

_CACHE: "OrderedDict[tuple, geo.CoverageResult]" = OrderedDict()
_CACHE_SIZE = 256


def coverage_terms(lot, day=None):
    """The access rule of ``lot``'s contract on ``day``: radius and counted site kinds
    (:class:`fc_market.market.terms.CoverageTerms`, read through ``lot_terms``; the contract
    file's defaults, 30 km and permanent sites, for a lot without contract)."""
    if getattr(lot, "contract", None) is None:
        return default_terms(day).coverage
    return lot_terms(lot, day).coverage


def extended_kinds(terms):
    """The kinds that count plus the permanences (the second reading of the screens)."""
    return tuple(k for k in SITE_KINDS if k in terms.site_kinds or k == "permanence")


@lru_cache(maxsize=32)
def prepared_localities(region_code):
    """The region's communes ready for :func:`geo.coverage` (built once per process)."""
    return geo.PreparedLocalities(load_localities(region_code))


def _geo_site(site):
    return geo.Site(site.id, float(site.latitude), float(site.longitude), site.name, site.kind)


def open_sites(sites, day):
    return [s for s in sites if s.is_open_on(day)]


def coverage_of(region_code, sites, kinds=("permanent",), radius_km=geo.DEFAULT_RADIUS_KM):
    """Coverage of a region's communes by the given geo sites of the given kinds (cached).

    The public inputs of every coverage figure: the region's communes
    (:func:`~fc_market.territory.loader.load_localities`), the open sites of the lot on the
    day, the contract's radius and kinds (:func:`coverage_terms`).
    """
    radius_km = float(radius_km)
    counting = tuple(sorted((s for s in sites if s.kind in kinds), key=lambda s: str(s.id)))
    key = (region_code, radius_km, tuple((s.id, s.lat, s.lon) for s in counting))
    result = _CACHE.get(key)
    if result is None:
        result = geo.coverage(prepared_localities(region_code), counting, radius_km)
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return result


@dataclass
class LotCoverage:
    """A lot's coverage on a day: ``rule`` under the contract's terms, ``with_permanences``
    with the permanences counted too (the same as ``rule`` when they already count)."""
    lot: Lot
    day: date
    sites: list          # open sites (models) on ``day``
    terms: object        # fc_market.market.terms.CoverageTerms
    rule: geo.CoverageResult
    with_permanences: geo.CoverageResult

    @property
    def permanent(self):
        """The contract's reading (kept for callers written when it was permanent sites)."""
        return self.rule

    @property
    def share(self):
        return self.rule.share

    def mode(self, name):
        return self.with_permanences if name == "with_permanences" else self.rule

    def kinds(self, name):
        return extended_kinds(self.terms) if name == "with_permanences" else self.terms.site_kinds


def mode_labels(terms):
    label = terms.kinds_label
    return {"permanent": f"Au contrat : {label}",
            "with_permanences": f"{label[:1].upper()}{label[1:]}"
                                + ("" if "permanence" in terms.site_kinds else " et permanences")}


def lot_coverage(lot, day=None, sites=None):
    day = day or date.today()
    sites = open_sites(lot_sites(lot) if sites is None else sites, day)
    geo_sites = [_geo_site(s) for s in sites]
    terms = coverage_terms(lot, day)
    return LotCoverage(lot, day, sites, terms,
                       coverage_of(lot.region_code, geo_sites, terms.site_kinds, terms.radius),
                       coverage_of(lot.region_code, geo_sites, extended_kinds(terms),
                                   terms.radius))


@dataclass(frozen=True)
class CoverageInputs:
    """Everything a lot's coverage figure is computed from, for an independent recomputation:
    the region's communes (INSEE code, population, point), the open sites of the counted
    kinds on ``day`` (``geo.Site``) and the radius in km (covered: distance <= radius + 0.5 m)."""
    communes: tuple
    sites: tuple
    radius_km: float
    site_kinds: tuple


def coverage_inputs(lot, day=None, sites=None):
    day = day or date.today()
    terms = coverage_terms(lot, day)
    counted = tuple(_geo_site(s) for s in open_sites(lot_sites(lot) if sites is None else sites, day)
                    if s.kind in terms.site_kinds)
    return CoverageInputs(load_localities(lot.region_code), counted, terms.radius,
                          tuple(terms.site_kinds))


def all_coverage(lots, day=None):
    """{lot_id: LotCoverage} for many lots with one query for the sites."""
    day = day or date.today()
    by_lot = {lot.id: [] for lot in lots}
    for site in db.session.scalars(sa.select(Site).where(Site.lot_id.in_(list(by_lot)))):
        by_lot[site.lot_id].append(site)
    return {lot.id: lot_coverage(lot, day, by_lot[lot.id]) for lot in lots}


def zone_rows(result, limit=None):
    """Zones blanches of a result, most populous first: INSEE code, name, département,
    population and distance (km, 1 decimal) to the nearest counted site."""
    rows = []
    for l in result.uncovered[:limit]:
        km = result.nearest_km.get(l.id)
        rows.append({"insee": l.id, "name": l.name, "departement": l.departement,
                     "population": l.population,
                     "nearest_site_km": round(km, 1) if km is not None else None})
    return rows


def coverage_json(cov, top=10):
    def block(result):
        return {"covered_population": result.covered_population,
                "total_population": result.total_population,
                "share": result.share,
                "uncovered_communes": result.uncovered_count,
                "uncovered_population": result.uncovered_population,
                "largest_uncovered": zone_rows(result, top)}
    out = {"lot": cov.lot.code, "name": cov.lot.name, "region": cov.lot.region_code,
           "date": cov.day.isoformat(), "population": lot_population(cov.lot),
           "radius_km": cov.terms.radius, "site_kinds": list(cov.terms.site_kinds),
           "open_permanent_sites": sum(1 for s in cov.sites if s.kind == "permanent"),
           "open_permanences": sum(1 for s in cov.sites if s.kind == "permanence"),
           "open_counted_sites": sum(1 for s in cov.sites if s.kind in cov.terms.site_kinds)}
    out.update(block(cov.rule))
    out["with_permanences"] = block(cov.with_permanences)
    return out


def change_what_if(change, day=None):
    """Coverage before/after the requested change, for both counting modes."""
    day = day or date.today()
    lot = change.lot
    terms = coverage_terms(lot, day)
    current = [_geo_site(s) for s in open_sites(lot_sites(lot), day)]
    locs = prepared_localities(lot.region_code)
    out = {}
    proposed = None
    if change.action != ChangeAction.CLOSE:
        v = change.proposed
        closed = v.get("closed_on") and date.fromisoformat(v["closed_on"]) < day
        if not closed:
            proposed = geo.Site(f"demande-{change.id}", float(v["latitude"]), float(v["longitude"]),
                                v.get("name") or "", v.get("kind") or "permanent")
    for mode, kinds in (("permanent", terms.site_kinds), ("with_permanences", extended_kinds(terms))):
        counting = [s for s in current if s.kind in kinds]
        remove = [change.site_id] if change.site_id and any(s.id == change.site_id for s in counting) else []
        add = [proposed] if proposed is not None and proposed.kind in kinds else []
        out[mode] = geo.what_if(locs, counting, add=add, remove=remove, radius_km=terms.radius)
    return out


def what_if_sites(change, day=None):
    """Open sites after the change (for the map of the proposal)."""
    day = day or date.today()
    sites = [_geo_site(s) for s in open_sites(lot_sites(change.lot), day)
             if s.id != change.site_id]
    if change.action != ChangeAction.CLOSE:
        v = change.proposed
        sites.append(geo.Site(f"demande-{change.id}", float(v["latitude"]), float(v["longitude"]),
                              f"{v.get('name')} (proposé)", v.get("kind") or "permanent"))
    return sites
