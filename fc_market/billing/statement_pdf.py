"""The payable statement as a PDF, beside its Excel export: what the mandataire invoices and
finance pays, readable and printable (fpdf2, core fonts: Latin-1 text)."""
from fpdf import FPDF

from fc_market.einvoice.pdf import _money, _t
from fc_market.formatting import day, integer, moment, month, unit_price

#: The statement's totals, in the order of the page (attribute, French label)
TOTALS = (("subtotal", "Sous-total HT"), ("withholdings", "Retenues de contrôle de service fait"),
          ("total_excl_tax", "Total HT"), ("vat", "TVA"), ("total_incl_tax", "Total TTC"),
          ("penalties", "Pénalités de retard de reporting"),
          ("penalties_deducted_incl_tax", "Pénalités déduites"), ("amount_payable", "Net à payer"))


def statement_pdf(st):
    lot = st.lot
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(_t(f"{st.title} - lot {lot.code} - {month(st.period)}"))
    pdf.set_author("France compétences")
    pdf.set_lang("fr-FR")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 15)
    pdf.multi_cell(0, 8, _t(st.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(0, 5, _t(f"Marché CEP actifs occupés - lot {lot.code} ({lot.name}) - {month(st.period)}"),
                   new_x="LMARGIN", new_y="NEXT")
    if st.is_certified:
        who = f" par {st.certified_by.full_name}" if st.certified_by else ""
        status = f"Service fait certifié le {moment(st.certified_at)}{who}."
    else:
        status = (f"Provisoire : recalculé tant qu'il n'est pas certifié (dernier calcul "
                  f"{moment(st.computed_at)}). Ne pas facturer sur cette base.")
    pdf.multi_cell(0, 5, _t(status), new_x="LMARGIN", new_y="NEXT")
    if st.is_adjusting and st.adjusts is not None:
        pdf.multi_cell(0, 5, _t(f"État rectificatif : montants en écart avec l'état certifié "
                                f"{st.adjusts.number}."), new_x="LMARGIN", new_y="NEXT")
    if st.revision_coefficient != 1:
        pdf.multi_cell(0, 5, _t(f"Coefficient de révision des prix : {st.revision_coefficient}".replace(".", ",")),
                       new_x="LMARGIN", new_y="NEXT")
    if st.days_late:
        pdf.multi_cell(0, 5, _t(f"Reporting déposé avec {integer(st.days_late)} jour(s) de retard."),
                       new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    widths = (18, 68, 18, 28, 26, 32)
    pdf.set_font("helvetica", "B", 8)
    for w, h in zip(widths, ("UO", "Libellé", "Quantité", "Prix unitaire HT", "Révision", "Montant HT")):
        pdf.cell(w, 7, _t(h), border=1, align="C")
    pdf.ln()
    pdf.set_font("helvetica", "", 8)
    for line in st.lines:
        cells = (line.uo_code, line.label[:48], integer(line.quantity), unit_price(line.unit_price),
                 _money(line.revision_adjustment) if line.revision_adjustment else "-", _money(line.amount))
        for w, value, align in zip(widths, cells, ("L", "L", "R", "R", "R", "R")):
            pdf.cell(w, 6, _t(value), border=1, align=align)
        pdf.ln()
    pdf.ln(3)
    pdf.set_font("helvetica", "", 9)
    for key, label in TOTALS:
        bold = key in ("total_incl_tax", "amount_payable")
        pdf.set_font("helvetica", "B" if bold else "", 9)
        pdf.cell(140, 6, _t(label), align="R")
        pdf.cell(50, 6, _t(_money(getattr(st, key))), border=1, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("helvetica", "", 7)
    if st.inalterable_hash:
        pdf.multi_cell(0, 4, _t(f"Empreinte d'inaltérabilité (SHA-256) : {st.inalterable_hash}"),
                       new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 4, _t(f"Document produit par fc_market le {day(_today())}."), new_x="LMARGIN",
                   new_y="NEXT")
    return bytes(pdf.output())


def _today():
    from datetime import date
    return date.today()
