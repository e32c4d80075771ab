"""The sites of a lot as a DSFR list: one definition for the table (paginated, sorted,
filtered in Python since the lot's sites are loaded for the coverage anyway).  The Excel
export of the sites stays the import format (``importer.sites_sheet``) so that it can be
edited and imported back."""
from datetime import date

from flask import url_for
from markupsafe import Markup

from fc_market.tables import Col, Filter, Table, search_filter
from fc_market.territory.models import SITE_KINDS

SITE_STATES = {"ouverts": "Ouverts aujourd'hui", "fermes": "Fermés ou à venir"}


def _hours_html(site):
    tags = []
    if site.evening:
        tags.append(Markup('<li><p class="fr-tag fr-tag--sm">soirée</p></li>'))
    if site.saturday:
        tags.append(Markup('<li><p class="fr-tag fr-tag--sm">samedi</p></li>'))
    if not site.opening_hours:
        return Markup('<span class="fc-muted">non renseignés</span>')
    if not tags:
        return Markup("en journée")
    return Markup('<ul class="fr-tags-group">{}</ul>').format(Markup("").join(tags))


def _hours_text(site):
    if not site.opening_hours:
        return "non renseignés"
    parts = [p for p, on in (("soirée", site.evening), ("samedi", site.saturday)) if on]
    return ", ".join(parts) or "en journée"


def _state_match(site, value):
    return site.is_open_on(date.today()) == (value == "ouverts")


SITES = Table(
    "sites", "Sites du lot",
    [Col("code", "Code", sort=True,
         html=lambda s: Markup('<a href="{}">{}</a>').format(
             url_for("territory.site", code=s.lot.code, site_id=s.id), s.code)),
     Col("name", "Nom", sort=True),
     Col("kind", "Type", labels=SITE_KINDS, sort=True),
     Col("commune", "Commune", sort=True),
     Col("departement", "Dép.", sort=True),
     Col("member", "Membre", lambda s: s.member.legal_name if s.member else None),
     Col("hours", "Horaires", _hours_text, html=_hours_html),
     Col("disabled_access", "Accès PMR", kind="bool"),
     Col("opened_on", "Ouvert le", kind="date", sort=True),
     Col("closed_on", "Fermeture", kind="date", sort=True)],
    filters=[Filter("type", "Type", "select", options=list(SITE_KINDS.items()),
                    match=lambda s, value: s.kind == value),
             Filter("etat", "État", "select", options=list(SITE_STATES.items()), match=_state_match),
             search_filter("Recherche", get=lambda s: [s.code, s.name, s.commune],
                           hint="Code, nom ou commune")],
    default_sort="code", noun=("site", "sites"), empty="Aucun site enregistré.",
    row_class=lambda s: "" if s.is_open_on(date.today()) else "fc-muted")
