"""The accessibility statement, in the RGAA's form, public at the footer's link."""


def test_accessibility_statement_has_the_rgaa_sections(app):
    response = app.test_client().get("/accessibilite")
    assert response.status_code == 200  # public: no login needed
    page = response.get_data(as_text=True)
    for heading in ("État de conformité", "Résultats des tests", "Contenus non accessibles",
                    "Établissement de cette déclaration d’accessibilité", "Retour d’information et contact",
                    "Voies de recours"):
        assert f"<h2>{heading}</h2>" in page, heading
    assert "<strong>non conforme</strong>" in page and "RGAA" in page
    assert "axe-core" in page and "clavier seul" in page
    assert "Défenseur des droits" in page and "Libre réponse 71120" in page
    assert 'href="/accessibilite"' in page  # the footer's link
