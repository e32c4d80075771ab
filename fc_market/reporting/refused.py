"""What a mandataire needs to correct a refused file: its issues grouped by kind, and the
refused rows themselves (as they were in the file) with their errors beside them.

The uploaded file is not kept; the values of the rows an error points at are kept with
the error in the import journal (:class:`fc_market.reporting.models.ReportImport`), so the
refused rows can be downloaded later as an Excel sheet with an error column.
"""
import re
from collections import Counter, defaultdict
from datetime import date, datetime

from fc_market.excel.reader import open_checked
from fc_market.excel.writer import Column, Sheet
from fc_market.reporting import dictionary as dd

#: French label of each kind of issue the checks raise (their ``code``)
ISSUE_KINDS = {
    "uo_missing": "UO non renseignée", "uo_unknown": "UO inconnue du marché",
    "date_missing": "Date de l'acte manquante", "date_invalid": "Date illisible",
    "date_after_period": "Date après le mois déclaré", "date_before_period": "Date avant le mois déclaré",
    "date_before_contract": "Date avant le début du contrat", "date_outside": "Date hors période",
    "date_late_act": "Acte d'un mois antérieur", "mode_missing": "Modalité manquante",
    "mode_unknown": "Modalité inconnue", "site_missing": "Site manquant",
    "site_unknown": "Site inconnu", "site_other_lot": "Site d'un autre lot",
    "site_closed": "Site fermé à la date de l'acte", "proof_missing": "Justificatif manquant",
    "proof_too_long": "Référence de justificatif trop longue", "profile_missing": "Profil du bénéficiaire incomplet",
    "id_missing": "Identifiant bénéficiaire manquant", "id_personal": "Identifiant non pseudonymisé",
    "id_malformed": "Identifiant bénéficiaire mal formé", "duplicate": "Acte en double", "window": "Délai entre UO non respecté",
    "expects_prior": "UO sans l'UO préalable", "volume_change": "Variation de volume inhabituelle",
    "columns_missing": "Colonnes obligatoires absentes", "columns_ignored": "Colonnes ignorées",
    "sheet_missing": "Feuille absente", "figures_missing": "Indicateurs du lot absents",
    "figures_layout": "Feuille des indicateurs modifiée", "figure_invalid": "Indicateur illisible",
    "figure_inconsistent": "Indicateurs incohérents", "wrong_lot": "Fichier d'un autre lot",
    "wrong_period": "Fichier d'un autre mois", "period": "Mois hors contrat",
    "formula": "Formule dans une cellule", "empty": "Fichier vide", "refused": "Fichier refusé",
    "concurrent": "Dépôt simultané", "error": "Fichier illisible", "warning": "Avertissement",
}
#: Rows whose values are kept with their errors (the journal keeps the first errors only)
MAX_ROWS_KEPT = 2000


def kind_label(code):
    return ISSUE_KINDS.get(code, "Autre anomalie")


def group_issues(issues):
    """``[(label, count, first message)]`` of ``issues`` (stored dicts), most frequent first."""
    counts, first = Counter(), {}
    for issue in issues or ():
        label = kind_label(issue.get("code"))
        counts[label] += 1
        first.setdefault(label, issue.get("message"))
    return [(label, count, first[label]) for label, count in
            sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


#: Shown instead of a beneficiary identifier that is not a pseudonymised one (it may be an
#: e-mail address or a name: personal data is never kept)
WITHHELD = "(non conservé : identifiant non pseudonymisé)"
#: Any other cell that looks like an e-mail address or a long number (telephone, social
#: security number) is not kept either
PERSONAL_LOOKING = re.compile(r"@|(?:\d[ .-]?){9,}")
WITHHELD_OTHER = "(non conservé : donnée personnelle possible)"


def _safe(header, value):
    """The cell's value, unless it is a beneficiary identifier that fails the pseudonymised
    format (then :data:`WITHHELD`)."""
    if header == dd.ACT_HEADERS["beneficiary_id"] and value not in (None, ""):
        _, problem = dd.check_beneficiary_id(value)
        if problem:
            return WITHHELD
    elif isinstance(value, str) and PERSONAL_LOOKING.search(value):
        return WITHHELD_OTHER
    return _plain(value)


def attach_row_values(data, errors):
    """Add to each stored error on the acts sheet the row's values as they were in the file
    (``values``: {header: value}), a beneficiary identifier only when pseudonymised.  A
    file that cannot be read again is left as it is."""
    wanted = {e["row"] for e in errors if e.get("row") and e.get("sheet") in (dd.ACTS_SHEET, None)}
    wanted = set(sorted(wanted)[:MAX_ROWS_KEPT])
    if not data or not wanted:
        return errors
    found = {}
    last = max(wanted)
    try:
        with open_checked(data) as book:
            if dd.ACTS_SHEET not in book.sheet_names:
                return errors
            rows = book.iter_rows(dd.ACTS_SHEET)
            for number, record in rows:
                if number in wanted:
                    found[number] = {h: _safe(h, record.get(h)) for h in rows.headers}
                if number >= last:
                    break
    except Exception:  # noqa: BLE001 - the journal is written whatever the file holds
        return errors
    for e in errors:
        if e.get("row") in found and e.get("sheet") in (dd.ACTS_SHEET, None):
            e["values"] = found[e["row"]]
    return errors


def refused_rows(errors):
    """``(headers, rows)``: the refused rows in file order, each a dict with ``row``,
    ``values`` and ``errors`` (the messages joined)."""
    by_row, messages = {}, defaultdict(list)
    for e in errors or ():
        if e.get("values") is None:
            continue
        by_row.setdefault(e["row"], e["values"])
        messages[e["row"]].append(e.get("message") or "")
    headers = []
    for values in by_row.values():
        for h in values:
            if h not in headers:
                headers.append(h)
    rows = [{"row": n, "values": by_row[n], "errors": " ; ".join(messages[n])} for n in sorted(by_row)]
    return headers, rows


def refused_rows_sheet(errors):
    headers, rows = refused_rows(errors)
    columns = [Column("row", "Ligne du fichier", "int")]
    columns += [Column(lambda r, h=h: r["values"].get(h), h) for h in headers]
    columns.append(Column("errors", "Erreur(s)"))
    return Sheet("Lignes refusées", columns, rows)


def groups_sheet(title, issues):
    columns = [Column(lambda g: g[0], "Type d'anomalie"), Column(lambda g: g[1], "Nombre", "int"),
               Column(lambda g: g[2], "Exemple")]
    return Sheet(title, columns, group_issues(issues))
