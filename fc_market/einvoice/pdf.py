"""The human-readable face of the Factur-X invoice (the XML inside is what counts)."""
from decimal import Decimal

from fpdf import FPDF

from fc_market.formatting import day


def _t(text):
    """Core PDF fonts read Latin-1: thin spaces become plain ones, the euro sign 'EUR'."""
    return (str(text).replace("\u202f", " ").replace("\u00a0", " ").replace("€", "EUR")
            .replace("—", "-").replace("’", "'").replace("œ", "oe").replace("Œ", "OE")
            .encode("latin-1", "replace").decode("latin-1"))


def _money(value):
    value = Decimal(value).quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    whole, cents = f"{abs(value):.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{' '.join(groups)},{cents} EUR"


def invoice_pdf(expected, statement):
    d = expected.data
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(_t(f"Facture {expected.number}"))
    pdf.set_author(_t(d["BG-4"]["name"]))
    pdf.set_lang("fr-FR")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    kind = "Avoir" if expected.credit_note else "Facture"
    pdf.cell(0, 10, _t(f"{kind} n° {expected.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    pdf.cell(0, 6, _t(f"Date d'émission : {day(d['BT-2'])} - période du {day(d['BT-73'])} au "
                      f"{day(d['BT-74'])}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    seller, buyer = d["BG-4"], d["BG-7"]
    y = pdf.get_y()
    pdf.set_font("helvetica", "B", 10)
    pdf.multi_cell(90, 5, _t("Émetteur (mandataire du groupement)"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(90, 5, _t(f"{seller['name']}\nSIRET {seller['legal_identifier']}\n"
                             f"TVA {seller['vat_identifier']}\n{seller.get('legal_info', '')}"))
    pdf.set_xy(110, y)
    pdf.set_font("helvetica", "B", 10)
    pdf.multi_cell(90, 5, _t("Destinataire"), new_x="LEFT", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(90, 5, _t(f"{buyer['name']}\nSIRET {buyer['legal_identifier']}\n"
                             f"Code service Chorus Pro {buyer['identifiers']['']}\n"
                             f"{buyer.get('postcode', '')} {buyer.get('city', '')}"), new_x="LMARGIN",
                   new_y="NEXT")
    pdf.ln(4)
    pdf.ln(2)
    pdf.multi_cell(0, 5, _t(f"Référence acheteur (état liquidatif) : {d['BT-10']}   -   Contrat : "
                            f"{d['BT-12']}   -   Engagement : {d['BT-13']}"), new_x="LMARGIN",
                   new_y="NEXT")
    pdf.ln(3)
    widths = (22, 70, 20, 26, 22, 30)
    pdf.set_font("helvetica", "B", 9)
    for w, h in zip(widths, ("UO", "Désignation", "Quantité", "Prix unitaire HT", "Révision", "Montant HT")):
        pdf.cell(w, 7, _t(h), border=1, align="C")
    pdf.ln()
    pdf.set_font("helvetica", "", 9)
    for line in d["BG-25"]:
        adj = sum((Decimal(c["amount"]) for c in line.get("BG-28", [])), Decimal(0)) \
            - sum((Decimal(a["amount"]) for a in line.get("BG-27", [])), Decimal(0))
        cells = (line["BT-153"], line["BT-154"][:45], line["BT-129"], _money(line["BT-146"]),
                 _money(adj) if adj else "-", _money(line["BT-131"]))
        for w, value, align in zip(widths, cells, ("L", "L", "R", "R", "R", "R")):
            pdf.cell(w, 6, _t(value), border=1, align=align)
        pdf.ln()
    pdf.ln(2)
    totals = [("Total des lignes HT", d["BT-106"])]
    for a in d.get("BG-20", []):
        totals.append((a["reason"], f"-{a['amount']}"))
    totals += [("Total HT", d["BT-109"]), (f"TVA {d['BG-23'][0]['BT-119'].replace('.', ',')} %", d["BT-110"]),
               ("Total TTC", d["BT-112"]), ("Montant à payer", d["BT-115"])]
    for label, value in totals:
        pdf.cell(140, 6, _t(label), align="R")
        pdf.cell(50, 6, _t(_money(value)), border=1, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("helvetica", "", 8)
    for note in d.get("BG-1", []):
        pdf.multi_cell(0, 4, _t(note["BT-22"]), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 4, _t(d["BT-20"]), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 4, _t("Facture électronique Factur-X (profil EN 16931) : les données "
                            "structurées jointes font foi."), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
