from io import BytesIO

from openpyxl import load_workbook


def test_lot_list_in_french_formats(login):
    page = login("manager").get("/lots").get_data(as_text=True)
    assert "Les 18 lots du marché" in page
    assert "Île-de-France" in page and "Mayotte" in page
    # French number and money formats (narrow no-break space thousands, comma decimals)
    assert "12\u202f463\u202f067" in page  # the sum of its communes, as on /maillage
    assert "150,00\xa0€" in page
    assert "illustratives" in page


def test_lot_page_shows_contract_prices_history_and_amendments(login):
    page = login("manager").get("/lots/ARA").get_data(as_text=True)
    assert "Auvergne-Rhône-Alpes" in page
    assert "600,00\xa0€" in page and "620,00\xa0€" in page
    assert "14/04/2025" in page  # end of the first UO2.1 line, the day before the amendment
    assert "Renforcement de l&#39;accompagnement" in page or "Renforcement de l'accompagnement" in page
    assert "20,0\xa0%" in page  # VAT


def test_lots_export_has_typed_cells(login):
    response = login("finance").get("/lots.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(BytesIO(response.data)).active
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["N°", "Code", "Région"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 18
    idf = rows[0]
    assert idf[1] == "IDF" and idf[4] == 12463067
    uo1 = headers.index("Prix UO1 HT")
    assert float(idf[uo1]) == 150.0
    assert sheet.cell(row=2, column=uo1 + 1).number_format.endswith('"€"') or "€" in sheet.cell(row=2, column=uo1 + 1).number_format
    start = headers.index("Début")
    assert rows[0][start].year == 2024


def test_price_export_for_a_mandataire_s_own_lot(login):
    response = login("mandataire").get("/lots/IDF/prix.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.data)).active
    assert {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)} == {
        "UO0", "UO1", "UO2.1", "UO2.2", "UO4"}


def test_catalogue(login):
    page = login("mandataire").get("/catalogue").get_data(as_text=True)
    assert "Document de synthèse et plan d&#39;action" in page or "Document de synthèse et plan d'action" in page
    assert "Forfait annuel par lot" in page


def test_a_manager_names_the_lot_s_referent_with_an_audit_trail(login, users):
    import sqlalchemy as sa
    from fc_market.audit.models import AuditEntry
    from fc_market.extensions import db
    from tests.conftest import lot
    manager = login("manager")
    page = manager.get("/lots/CVL").get_data(as_text=True)
    assert '<option selected value="">— aucun : tous les chargés de marché —</option>' in page
    finance_page = login("finance").get("/lots/CVL").get_data(as_text=True)
    assert "Chargé(e) de marché référent : <strong>aucun</strong>" in finance_page
    done = manager.post("/lots/CVL/referent", data={"manager": str(users["manager"].id)},
                        follow_redirects=True).get_data(as_text=True)
    assert "Référent du lot CVL : Manager" in done
    assert lot("CVL").manager_id == users["manager"].id
    assert "Manager" in manager.get("/lots").get_data(as_text=True)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "market.lot_manager"))
    assert entry.changes == {"manager": [None, "Manager"]}
    # only a market manager can be named; finance and mandataires cannot name anyone
    refused = manager.post("/lots/CVL/referent", data={"manager": str(users["finance"].id)},
                           follow_redirects=True).get_data(as_text=True)
    assert "Choisissez un(e) chargé(e) de marché de la liste." in refused
    assert lot("CVL").manager_id == users["manager"].id
    assert login("finance").post("/lots/CVL/referent", data={"manager": ""}).status_code == 403
    assert login("mandataire").post("/lots/IDF/referent", data={"manager": ""}).status_code == 403
    # withdrawn: all managers again
    manager.post("/lots/CVL/referent", data={"manager": ""})
    assert lot("CVL").manager_id is None


def test_catalogue_and_messages_export(login, users):
    from fc_market.extensions import db
    from fc_market.notifications.service import notify
    from tests.conftest import lot
    book = load_workbook(BytesIO(login("mandataire").get("/catalogue.xlsx").data)).active
    rows = {r[0].value: [c.value for c in r] for r in book.iter_rows(min_row=2)}
    assert set(rows) == {"UO0", "UO1", "UO2.1", "UO2.2", "UO4"}
    assert rows["UO1"][2] == "Forfait par bénéficiaire" and rows["UO1"][3] == 1
    notify(kind="t", subject="Rappel IDF", body="…", lot_id=lot("IDF").id)
    notify(kind="t", subject="Rappel BRE", body="…", lot_id=lot("BRE").id)
    db.session.commit()
    sheet = load_workbook(BytesIO(login("mandataire").get("/messages.xlsx").data)).active
    subjects = [r[2].value for r in sheet.iter_rows(min_row=2)]
    assert subjects == ["Rappel IDF"]  # never another lot's
