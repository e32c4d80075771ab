"""A small, demo-like world for the browser journeys, built through the real services:
the demo market, one user per role, a few sites, validated months for IDF, ECB rates."""
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import BytesIO

import openpyxl
import sqlalchemy as sa

from fc_market.demo.pdf import minimal_pdf
from fc_market.extensions import db
from tests.reporting.helpers import FIGURES, add_sites, lot, make_file, row

#: A small well-formed PDF (the proof and invoice uploads parse it)
PDF = minimal_pdf("Piece de test fc_market")


def month_rows(month_index, period, count=6):
    """``count`` acts of ``period`` (UO1 mostly, two UO2.1), beneficiaries distinct per month."""
    year, month = map(int, period.split("-"))
    rows = []
    for i in range(count):
        uo = "UO2.1" if i % 3 == 2 else "UO1"
        rows.append(row(month_index * 100 + i, uo=uo, day=date(year, month, 3 + i),
                        site="S001" if i % 2 else "S002", proof=f"DS-{period}-{i}"))
    return rows


def submit(code, period, rows, user):
    """Import a file and submit it (the mandataire's part), returns the submitted version."""
    from fc_market.reporting import service
    from fc_market.reporting.models import ReportVersion
    result = service.import_file(lot(code), period, make_file(code, period, rows), user=user,
                                 submit=True)
    assert result.accepted, [i.message for i in result.errors]
    db.session.commit()
    return db.session.get(ReportVersion, result.version_id)


def validate(version, manager):
    from fc_market.reporting import service
    service.decide(version, manager, "validate", None, None)
    db.session.commit()
    return version


def build(users, validated=("2025-01", "2025-02"), submitted=()):
    """Sites, validated months and submitted months for IDF; ECB rates."""
    add_sites()
    out = {}
    for index, period in enumerate(validated, start=1):
        out[period] = validate(submit("IDF", period, month_rows(index, period), users["mandataire"]),
                               users["manager"])
    for index, period in enumerate(submitted, start=len(validated) + 1):
        out[period] = submit("IDF", period, month_rows(index, period), users["mandataire"])
    add_ecb_rates(users["finance"])
    db.session.commit()
    return out


def add_ecb_rates(user):
    from fc_market.billing import service
    for effective_on, rate in ((date(2024, 12, 18), "3.15"), (date(2025, 6, 11), "2.15")):
        service.add_ecb_rate(effective_on, Decimal(rate), user, source="Saisie de test")


def statement(period, code="IDF"):
    from fc_market.billing import service
    return service.refresh_statement(lot(code), period)


def certify(period, user, when):
    from fc_market.billing import service
    st = statement(period)
    service.certify(st.id, user, verify=False, when=when)
    db.session.commit()
    return st


def late_invoice(period, mandataire, finance, received_on):
    """A certified month invoiced on ``received_on`` and accepted: due 30 days later."""
    from fc_market.billing import service
    st = certify(period, finance, datetime.combine(received_on - timedelta(days=5), datetime.min.time()))
    exp = service.expected_totals(st)
    inv = service.record_invoice(st, mandataire, number=f"FAC-IDF-{period.replace('-', '')}",
                                 issued_on=received_on, received_on=received_on,
                                 amount_excl_tax=exp["amount_excl_tax"], vat=exp["vat"],
                                 amount_incl_tax=exp["amount_incl_tax"], file=("facture.pdf", PDF),
                                 today=received_on)
    service.decide(inv.id, finance, "accept", today=received_on + timedelta(days=2))
    db.session.commit()
    return inv


def fill_template(data, rows, figures=FIGURES):
    """The downloaded template with acts and the lot's figures typed in, as a mandataire would."""
    from fc_market.reporting.dictionary import FIGURE_FIRST_ROW, FIGURE_ROWS
    wb = openpyxl.load_workbook(BytesIO(data))
    for values in rows:
        wb["Actes"].append(values)
    sheet = wb["Indicateurs du lot"]
    for offset, (name, _, _) in enumerate(FIGURE_ROWS):
        sheet.cell(row=FIGURE_FIRST_ROW + offset, column=2, value=figures.get(name))
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def count(model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
