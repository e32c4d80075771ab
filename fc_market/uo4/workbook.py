"""The UO4 Excel template (openpyxl) and the reading of a filled-in file (calamine, after
the safety checks of :func:`fc_market.excel.reader.open_checked`)."""
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from fc_market.excel.reader import open_checked
from fc_market.excel.safety import WorkbookError, column_letters
from fc_market.reporting.dictionary import choice, fold
from fc_market.reporting.workbook import workbook_issue
from fc_market.uo4.models import FilingKind
from fc_market.uo4.service import LINE_FIELDS, members_of, terms_of

INSTRUCTIONS_SHEET = "Instructions"
LISTS_SHEET = "Listes"
LINES_SHEET = {FilingKind.PLAN: "Plan", FilingKind.STATEMENT: "Bilan"}
#: Rows of the lines sheet covered by the drop-down lists
TEMPLATE_ROWS = 500
_HEADER_FILL = PatternFill("solid", fgColor="E3E3FD")
_FIELD_BY_HEADER = {fold(header): name for name, header in LINE_FIELDS}
_FIELD_BY_HEADER.update({name: name for name, _ in LINE_FIELDS})


def build_template(lot, year, kind):
    """The lot's template for a year's plan or statement, as ``.xlsx`` bytes."""
    kind = FilingKind(kind)
    terms = terms_of(lot)
    members = members_of(lot)
    wb = Workbook()
    info = wb.active
    info.title = INSTRUCTIONS_SHEET
    lines = wb.create_sheet(LINES_SHEET[kind])
    lists = wb.create_sheet(LISTS_SHEET)

    categories = [choice(code, label) for code, label in terms.categories]
    people = [choice(m.siret, m.legal_name) for m in members]
    for col, (title, values) in enumerate((("Catégories", categories),
                                           ("Membres du groupement", people)), start=1):
        lists.cell(row=1, column=col, value=title).font = Font(bold=True)
        for r, value in enumerate(values, start=2):
            lists.cell(row=r, column=col, value=value).data_type = "s"
        lists.column_dimensions[column_letters(col)].width = 60
    lists.sheet_state = "hidden"

    widths = {"category": 45, "member": 60, "amount": 16, "description": 70}
    last = TEMPLATE_ROWS + 1
    for col, (name, header) in enumerate(LINE_FIELDS, start=1):
        cell = lines.cell(row=1, column=col, value=header)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        letter = column_letters(col)
        lines.column_dimensions[letter].width = widths[name]
        if name in ("category", "member"):
            count = len(categories) if name == "category" else len(people)
            source = "A" if name == "category" else "B"
            dv = DataValidation(type="list", formula1=f"={LISTS_SHEET}!${source}$2:${source}${max(2, count + 1)}",
                                allow_blank=True, showErrorMessage=True,
                                errorTitle=dict(LINE_FIELDS)[name],
                                error="Choisissez une valeur de la liste.")
            dv.add(f"{letter}2:{letter}{last}")
            lines.add_data_validation(dv)
        elif name == "amount":
            dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0",
                                allow_blank=True, showErrorMessage=True,
                                error="Un montant en euros, positif ou nul.")
            dv.add(f"{letter}2:{letter}{last}")
            lines.add_data_validation(dv)
    lines.freeze_panes = "A2"

    what = "plan prévisionnel" if kind == FilingKind.PLAN else "bilan d'utilisation"
    due = terms.due_on(kind, year)
    rows = [
        ("title", f"UO4 — {what} {year} — lot {lot.code} ({lot.name})"),
        ("Lot", lot.code),
        ("Année", str(year)),
        ("Date limite de dépôt", due.strftime("%d/%m/%Y")),
        ("", ""),
        ("section", "Comment remplir"),
        (f"Feuille « {LINES_SHEET[kind]} »",
         "Une ligne par catégorie de dépenses et par membre du groupement qui la porte : "
         + ("budget prévu pour l'année." if kind == FilingKind.PLAN else
            "dépenses réellement engagées sur l'année. Joignez ensuite les justificatifs "
            "(factures, états de paie, contrats) en PDF ou image sur la page du bilan.")),
        ("Montants", "En euros hors taxes, deux décimales au plus, sans formule."),
        ("Tout ou rien", "Le fichier est contrôlé en entier ; s'il contient une erreur, rien "
         "n'est enregistré et toutes les erreurs sont listées (feuille, ligne, colonne)."),
        ("Ne pas modifier", "Les lignes « Lot » et « Année » ci-dessus."),
        ("", ""),
        ("section", "Catégories du contrat"),
    ]
    rows += [(code, label) for code, label in terms.categories]
    rows += [("", ""), ("section", "Membres du groupement")]
    rows += [(m.siret, m.legal_name) for m in members]
    info.column_dimensions["A"].width = 28
    info.column_dimensions["B"].width = 100
    for r, (key, text) in enumerate(rows, start=1):
        if key == "title":
            info.cell(row=r, column=1, value=text).font = Font(bold=True, size=14)
        elif key == "section":
            info.cell(row=r, column=1, value=text).font = Font(bold=True, size=12)
        else:
            info.cell(row=r, column=1, value=key).font = Font(bold=True)
            cell = info.cell(row=r, column=2, value=text)
            cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def read_workbook(data, issues, lot, year, kind):
    """``(rows, sheet name)``: the lines sheet's rows for :func:`service.check_lines`; the
    identification (lot, year) is checked on the instructions sheet."""
    kind = FilingKind(kind)
    sheet = LINES_SHEET[kind]
    try:
        book = open_checked(data)
    except WorkbookError as exc:
        workbook_issue(issues, exc, "")
        return [], sheet
    with book:
        names = book.sheet_names
        if sheet not in names:
            other = LINES_SHEET[FilingKind.STATEMENT if kind == FilingKind.PLAN else FilingKind.PLAN]
            hint = (f" Ce fichier semble être un {'bilan' if other == 'Bilan' else 'plan'} : "
                    "vérifiez le document choisi." if other in names else " Partez du modèle du lot.")
            issues.error("sheet_missing", f"Feuille « {sheet} » introuvable (feuilles présentes : "
                         f"{', '.join(names)}).{hint}", sheet="")
            return [], sheet
        _check_identity(book, issues, lot, year, names)
        try:
            rows_in = book.iter_rows(sheet)
            columns, headers, ignored = {}, {}, []
            for header in rows_in.headers:
                name = _FIELD_BY_HEADER.get(fold(header))
                if name is None:
                    ignored.append(header)
                else:
                    columns[name], headers[name] = rows_in.columns[header], header
            missing = [header for name, header in LINE_FIELDS
                       if name != "description" and name not in columns]
            if missing:
                issues.error("columns_missing", "Colonne(s) obligatoire(s) absente(s) de la ligne "
                             f"d'en-tête : {', '.join(f'« {h} »' for h in missing)}.", 1, sheet=sheet)
                return [], sheet
            if ignored:
                issues.warning("columns_ignored", "Colonne(s) non reconnue(s), ignorée(s) : "
                               f"{', '.join(f'« {h} »' for h in ignored[:10])}.", 1, sheet=sheet)
            rows = [(number, {name: record[header] for name, header in headers.items()}, columns)
                    for number, record in rows_in]
        except WorkbookError as exc:
            workbook_issue(issues, exc, sheet)
            return [], sheet
    issues.sheet = sheet
    return rows, sheet


def _check_identity(book, issues, lot, year, names):
    if INSTRUCTIONS_SHEET not in names:
        issues.error("sheet_missing", f"Feuille « {INSTRUCTIONS_SHEET} » introuvable : elle "
                     "identifie le lot et l'année. Partez du modèle du lot.", sheet="")
        return
    found = {}
    try:
        for number, values in book.raw_rows(INSTRUCTIONS_SHEET):
            key = fold(values[0]) if values and values[0] is not None else ""
            if key in ("lot", "annee") and key not in found:
                found[key] = (number, values[1] if len(values) > 1 else None)
    except WorkbookError as exc:
        workbook_issue(issues, exc, INSTRUCTIONS_SHEET)
        return
    if "lot" not in found or "annee" not in found:
        issues.error("identity_missing", "Lignes « Lot » et « Année » introuvables : partez du "
                     "modèle du lot.", sheet=INSTRUCTIONS_SHEET)
        return
    row, value = found["lot"]
    if str(value or "").strip().upper() != lot.code:
        issues.error("wrong_lot", f"Ce fichier est celui du lot « {str(value or '')[:16]} » et non "
                     f"du lot {lot.code}.", row, "B", sheet=INSTRUCTIONS_SHEET)
    row, value = found["annee"]
    if str(value or "").strip() != str(year):
        issues.error("wrong_year", f"Ce fichier est celui de l'année « {str(value or '')[:10]} » et "
                     f"non de {year}.", row, "B", sheet=INSTRUCTIONS_SHEET)
