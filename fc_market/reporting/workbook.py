"""The lot's Excel template (openpyxl) and the reading of a filled-in file (calamine).

Reading always goes through :func:`fc_market.excel.reader.open_checked`, which runs the
safety check (zip bombs, XXE, macros, external links, huge sheets, formulas) before
calamine sees the file.  Rows are streamed to a :class:`~fc_market.reporting.checks.RowChecker`
and valid rows handed to ``sink`` in batches, so no row stays in memory.
"""
from datetime import date, datetime, timedelta
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from fc_market.excel.reader import open_checked
from fc_market.excel.safety import WorkbookError, column_letters, parse_cell_ref
from fc_market.market.dates import period_of
from fc_market.reporting import dictionary as dd
from fc_market.reporting.checks import fr_day, is_blank, text_of

#: Rows of the acts sheet covered by the drop-down lists and date checks
TEMPLATE_ROWS = 50000
#: Rows of a file read, checked and handed to the writer's thread at a time: the writer starts
#: early and its last batch is short (memory holds a chunk)
BATCH = 500
_HEADER_FILL = PatternFill("solid", fgColor="E3E3FD")
_EPOCH = date(1899, 12, 30)


def _serial(day):
    return (day - _EPOCH).days


def _list_validation(ws, formula, cells, title):
    dv = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=True,
                        errorTitle=title, error="Choisissez une valeur de la liste.")
    dv.add(cells)
    ws.add_data_validation(dv)


def build_template(lot, period, rules, due_on):
    """The lot's template for one period, as ``.xlsx`` bytes."""
    wb = Workbook()
    info = wb.active
    info.title = dd.INSTRUCTIONS_SHEET
    acts = wb.create_sheet(dd.ACTS_SHEET)
    figures = wb.create_sheet(dd.FIGURES_SHEET)
    lists = wb.create_sheet(dd.LISTS_SHEET)

    # Lists (hidden sheet) feeding the drop-downs
    uo_codes = list(rules.allowed)
    sites = [dd.choice(s.code, s.name) for s in rules.open_sites()]
    columns = {"uo_code": uo_codes, "mode": list(dd.MODES.values()), "site_code": sites}
    for name in dd.PROFILE_FIELDS:
        codes = dd.CODE_LISTS[name]
        columns[name] = (list(codes) if name in ("sex", "age_band")
                         else [dd.choice(c, label) for c, label in codes.items()])
    refs = {}
    for index, (name, values) in enumerate(columns.items(), start=1):
        letter = get_column_letter(index)
        lists.cell(row=1, column=index, value=dd.ACT_HEADERS[name]).font = Font(bold=True)
        for r, value in enumerate(values, start=2):
            lists.cell(row=r, column=index, value=value).data_type = "s"
        lists.column_dimensions[letter].width = 40
        refs[name] = f"{dd.LISTS_SHEET!r}!${letter}$2:${letter}${max(2, len(values) + 1)}"
    lists.sheet_state = "hidden"

    # Acts sheet: headers, typed columns, drop-downs, date range
    last = TEMPLATE_ROWS + 1
    for index, (name, header, required) in enumerate(dd.ACT_COLUMNS, start=1):
        cell = acts.cell(row=1, column=index, value=header)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        letter = get_column_letter(index)
        acts.column_dimensions[letter].width = {"beneficiary_id": 68, "proof_ref": 26,
                                                "act_date": 14}.get(name, 22)
        if name == "act_date":
            acts.column_dimensions[letter].number_format = "DD/MM/YYYY"
            first = max(rules.earliest_allowed, rules.contract_start or rules.earliest_allowed)
            dv = DataValidation(type="date", operator="between", formula1=str(_serial(first)),
                                formula2=str(_serial(rules.end)), allow_blank=True,
                                showErrorMessage=True, errorTitle="Date hors période",
                                error=f"La date doit être comprise entre le {fr_day(first)} et "
                                      f"le {fr_day(rules.end)}.")
            dv.add(f"{letter}2:{letter}{last}")
            acts.add_data_validation(dv)
        elif name == "beneficiary_id":
            acts.column_dimensions[letter].number_format = "@"
            dv = DataValidation(type="textLength", operator="equal", formula1="64",
                                allow_blank=True, showErrorMessage=True,
                                errorTitle="Identifiant pseudonymisé",
                                error="64 caractères hexadécimaux : jamais de nom, de courriel "
                                      "ni de numéro.")
            dv.add(f"{letter}2:{letter}{last}")
            acts.add_data_validation(dv)
        elif name in refs:
            acts.column_dimensions[letter].number_format = "@"
            _list_validation(acts, f"={refs[name]}", f"{letter}2:{letter}{last}", header)
        else:
            acts.column_dimensions[letter].number_format = "@"
    acts.freeze_panes = "A2"

    # Lot figures: key/value rows
    figures.column_dimensions["A"].width = 78
    figures.column_dimensions["B"].width = 40
    for col, text in ((1, "Indicateur"), (2, "Valeur")):
        cell = figures.cell(row=1, column=col, value=text)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
    figures.cell(row=2, column=1, value="Lot")
    figures.cell(row=2, column=2, value=lot.code).data_type = "s"
    figures.cell(row=3, column=1, value="Période")
    figures.cell(row=3, column=2, value=period).data_type = "s"
    for offset, (name, label, kind) in enumerate(dd.FIGURE_ROWS):
        row = dd.FIGURE_FIRST_ROW + offset
        figures.cell(row=row, column=1, value=label)
        if kind == "int":
            dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0",
                                allow_blank=True, showErrorMessage=True,
                                error="Un nombre entier positif ou nul.")
            dv.add(f"B{row}")
            figures.add_data_validation(dv)
        else:
            figures.cell(row=row, column=2).alignment = Alignment(wrap_text=True)
    figures.freeze_panes = "A2"

    _instructions(info, lot, period, rules, due_on)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _instructions(ws, lot, period, rules, due_on):
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 110
    lines = [
        ("title", f"Reporting mensuel du CEP actifs occupés — lot {lot.code} ({lot.name})"),
        ("", ""),
        ("Période", f"{period} (actes du {fr_day(rules.start)} au {fr_day(rules.end)})"),
        ("Date limite de dépôt", fr_day(due_on)),
        ("", ""),
        ("section", "Comment remplir"),
        ("Feuille « Actes »", "Une ligne par acte facturable : identifiant pseudonymisé du "
         "bénéficiaire, code UO, date, modalité, site (obligatoire en présentiel), référence du "
         "justificatif, profil du bénéficiaire. Utilisez les listes déroulantes."),
        ("Feuille « Indicateurs du lot »", "Résultats des enquêtes de satisfaction (niveaux 1 "
         "et 2), utilité à six mois, réclamations reçues et actions UO4 du mois. Ne modifiez "
         "pas les lignes « Lot » et « Période »."),
        ("Valeurs seulement", "Pas de formules, de liaisons externes ni de macros : le fichier "
         "serait refusé. Enregistrez au format « Classeur Excel (.xlsx) »."),
        ("Tout ou rien", "Le fichier est contrôlé en entier ; s'il contient une erreur "
         "bloquante, rien n'est enregistré et toutes les erreurs sont listées en une fois "
         "(feuille, ligne, colonne). Les avertissements n'empêchent pas le dépôt."),
        ("Aucune donnée personnelle", "Dans aucune cellule : ni nom, ni adresse électronique, "
         "ni numéro de téléphone ou de sécurité sociale (référence du justificatif et actions "
         "UO4 comprises). Une telle cellule est refusée."),
        ("Dates", f"Un acte daté après le jour du dépôt est refusé. Le rapport se prépare en "
         f"brouillon pendant le mois et se dépose à partir du lendemain de sa fin "
         f"({fr_day(rules.end + timedelta(days=1))})."),
        ("", ""),
        ("section", "Identifiant bénéficiaire (pseudonymisé)"),
        ("Méthode commune", dd.ID_METHOD),
        ("", ""),
        ("section", "Règles du contrat appliquées au contrôle"),
    ]
    for uo in rules.allowed.values():
        parts = [uo.label]
        if uo.max_per_beneficiary and uo.window_months:
            parts.append(f"facturable {uo.max_per_beneficiary} fois par bénéficiaire sur "
                         f"{uo.window_months} mois")
        parts.append("référence du justificatif obligatoire" if uo.proof_required
                     else "justificatif facultatif")
        if uo.expects_prior_code:
            parts.append(f"précédée d'une {uo.expects_prior_code} (sinon avertissement)")
        lines.append((uo.code, " ; ".join(parts) + "."))
    lines.append(("Actes tardifs", f"actes des {rules.grace_days} jours précédant la période "
                  "admis avec avertissement" if rules.grace_days else
                  "aucun acte antérieur à la période n'est admis"))
    lines.append(("Profil", "sexe, tranche d'âge, catégorie socio-professionnelle, situation "
                  "d'emploi et secteur obligatoires pour les actes de niveau 1 et 2 ; "
                  "facultatifs pour l'aiguillage (niveau 0)."))
    lines += [("", ""), ("section", "Sites ouverts du lot sur la période")]
    for site in rules.open_sites():
        closing = f" (fermeture le {fr_day(site.closed_on)})" if site.closed_on else ""
        lines.append((site.code, site.name + closing))
    for r, (key, text) in enumerate(lines, start=1):
        if key == "title":
            ws.cell(row=r, column=1, value=text).font = Font(bold=True, size=14)
        elif key == "section":
            ws.cell(row=r, column=1, value=text).font = Font(bold=True, size=12)
        else:
            ws.cell(row=r, column=1, value=key).font = Font(bold=True)
            cell = ws.cell(row=r, column=2, value=text)
            cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")


# -- reading ---------------------------------------------------------------------------------

_FIELDS_BY_HEADER = {dd.fold(header): name for name, header, _ in dd.ACT_COLUMNS}
_FIELDS_BY_HEADER.update({name: name for name, _, _ in dd.ACT_COLUMNS})
_FIGURES_BY_LABEL = {dd.fold(label): (name, kind) for name, label, kind in dd.FIGURE_ROWS}


def _rows_allowing_formulas(book, checker, sheet):
    """``(rows, {row: {column letter}})``: the sheet's rows, its formulas reported one error
    per cell (and read as their cached values so every other cell is still checked)."""
    try:
        return book.iter_rows(sheet), {}
    except WorkbookError as exc:
        if exc.code != "formulas" or not (exc.details or {}).get("cells"):
            raise
        workbook_issue(checker, exc, sheet)
        cells = {}
        for ref in exc.details["cells"]:
            position = parse_cell_ref(ref)
            if position:
                cells.setdefault(position[0], set()).add(column_letters(position[1]))
        return book.iter_rows(sheet, allow_formulas=True), cells


def workbook_issue(checker, exc, sheet=None):
    """A refused workbook (safety or reader) as one or several blocking issues."""
    cells = (exc.details or {}).get("cells") if isinstance(exc.details, dict) else None
    if exc.code == "formulas" and cells:
        for ref in cells:
            position = parse_cell_ref(ref)
            checker.error("formula", f"La cellule {ref} contient une formule : seules des valeurs "
                          "sont acceptées (Copier puis Collage spécial > Valeurs).",
                          position[0] if position else None,
                          column_letters(position[1]) if position else None, None, sheet)
        return
    checker.error(f"workbook_{exc.code}", exc.message, None, None, None, sheet)


def read_workbook(data, checker, sink, lot_code, period):
    """Stream the acts of ``data`` through ``checker``; valid rows go to ``sink(acts)``
    (``{field: [values]}``, see `RowChecker.check_columns`) a chunk at a time, even after an
    error (the duplicate rule reads them back; the caller rolls a rejected
    file back).  Returns the lot figures dict (or None when absent).  The acts sheet is
    decoded by calamine in a thread while the safety check ends (`open_checked`)."""
    try:
        book = open_checked(data, prefetch=dd.ACTS_SHEET)
    except WorkbookError as exc:
        workbook_issue(checker, exc, "")
        return None
    with book:
        names = book.sheet_names
        figures = None
        if dd.FIGURES_SHEET in names:
            figures = _read_figures(book, checker, lot_code, period)
        else:
            checker.warning("figures_missing", f"Feuille « {dd.FIGURES_SHEET} » absente : les "
                            "indicateurs du lot ne sont pas renseignés (saisissez-les dans le "
                            "formulaire web avant de déposer).", None, None, None, dd.FIGURES_SHEET)
        if dd.ACTS_SHEET not in names:
            checker.error("sheet_missing", f"Feuille « {dd.ACTS_SHEET} » introuvable (feuilles "
                          f"présentes : {', '.join(names)}). Partez du modèle du lot.",
                          None, None, None, "")
            return figures
        _read_acts(book, checker, sink)
        return figures


def _read_acts(book, checker, sink):
    try:
        rows, formulas = _rows_allowing_formulas(book, checker, dd.ACTS_SHEET)
    except WorkbookError as exc:
        workbook_issue(checker, exc, dd.ACTS_SHEET)
        return
    columns, ignored = {}, []
    for position, header in enumerate(rows.headers, start=1):
        name = _FIELDS_BY_HEADER.get(dd.fold(header))
        if name is None:
            ignored.append(header)
        else:
            columns[name] = (header, column_letters(position))
    missing = [header for name, header, required in dd.ACT_COLUMNS
               if required and name not in columns]
    if missing:
        checker.error("columns_missing", "Colonne(s) obligatoire(s) absente(s) de la ligne "
                      f"d'en-tête : {', '.join(f'« {h} »' for h in missing)}.", 1, None)
        return
    if ignored:
        checker.warning("columns_ignored", "Colonne(s) non reconnue(s), ignorée(s) : "
                        f"{', '.join(f'« {h} »' for h in ignored[:10])}.", 1, None)
    letters = {name: letter for name, (_, letter) in columns.items()}
    # the rows come by chunks, a column per field
    rows.select({header: name for name, (header, _) in columns.items()})
    try:
        for numbers, values in rows.chunks(BATCH):
            checker.compact()  # between chunks: bounded memory whatever the file's issues
            acts = checker.check_columns(numbers, values, letters, formulas)
            if acts["source_row"]:
                sink(acts)
    except WorkbookError as exc:
        workbook_issue(checker, exc, dd.ACTS_SHEET)


def _read_figures(book, checker, lot_code, period):
    sheet = dd.FIGURES_SHEET
    try:
        rows, formulas = _rows_allowing_formulas(book, checker, sheet)
        records = list(rows)
    except WorkbookError as exc:
        workbook_issue(checker, exc, sheet)
        return None
    if len(rows.headers) < 2:
        checker.error("figures_layout", "La feuille doit avoir deux colonnes : « Indicateur » "
                      "et « Valeur ».", 1, None, None, sheet)
        return None
    key_header, value_header = rows.headers[0], rows.headers[1]
    figures, found_on, unread = {}, {}, set()
    for number, record in records:
        key = record.get(key_header)
        value = record.get(value_header)
        folded = dd.fold(key) if key is not None else ""
        if number in formulas and folded in ("lot", "periode", "period"):
            continue
        if folded == "lot":
            if value is not None and str(value).strip().upper() != lot_code:
                checker.error("wrong_lot", f"Ce fichier est celui du lot « {text_of(value)[:16]} » "
                              f"et non du lot {lot_code}.", number, "B", None, sheet)
            continue
        if folded in ("periode", "period"):
            found = period_of(value) if isinstance(value, (date, datetime)) else (
                text_of(value) if value is not None else None)
            if found is not None and found != period:
                checker.error("wrong_period", f"Ce fichier est celui de la période « {found[:10]} »"
                              f" et non de {period}.", number, "B", None, sheet)
            continue
        spec = _FIGURES_BY_LABEL.get(folded)
        if spec is None:
            continue
        name, kind = spec
        found_on[name] = number
        if number in formulas:  # reported at the cell; its cached value is not read
            unread.add(name)
            continue
        if kind == "text":
            personal = None if is_blank(value) else dd.personal_data_in(value)
            if personal:
                checker.error("personal_data", f"« {key} » {personal}", number, "B", None, sheet)
                continue
            figures[name] = None if is_blank(value) else text_of(value)[:4000]
            continue
        if is_blank(value):
            figures[name] = 0
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            checker.error("figure_invalid", f"« {key} » : un nombre entier positif ou nul est "
                          "attendu.", number, "B", None, sheet)
        else:
            figures[name] = value
    for part, whole in dd.FIGURE_PAIRS:
        if part in unread or whole in unread:
            continue
        if figures.get(part, 0) > figures.get(whole, 0):
            label = dict((n, lab) for n, lab, _ in dd.FIGURE_ROWS)
            checker.error("figure_inconsistent", f"« {label[part]} » ({figures[part]}) dépasse "
                          f"« {label[whole]} » ({figures.get(whole, 0)}, ligne "
                          f"{found_on.get(whole, '—')}).", found_on.get(part), "B", None, sheet)
    return figures

