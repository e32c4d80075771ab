"""The lot scorecard's charts: monthly entries against the target line and the quality
indicators over 12 months, drawn by the app (inline SVG, no script), with a title, a
description and the same figures in a table."""
import re

from tests.steering.test_views import _bad_satisfaction


def test_scorecard_charts_are_accessible_with_a_table_alternative(login, idf):
    _bad_satisfaction(idf)  # 2025-01..03: 3 000 entries a month, 70 % satisfied after level 1
    page = login("mandataire").get("/pilotage/lots/IDF").get_data(as_text=True)
    svgs = re.findall(r"<svg [^>]*class=\"chart\"[^>]*>.*?</svg>", page, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        ident = re.search(r'aria-labelledby="(chart-\w+)-title \1-desc"', svg).group(1)
        assert f'<title id="{ident}-title">' in svg and f'<desc id="{ident}-desc">' in svg
        assert "<script" not in svg and "style=" not in svg
    assert "Satisfaction et utilité — IDF (12 mois)" in page
    # the entries table: March 2025 with its 3 000 entries (thin-space thousands)
    entries = page[page.index('id="entries-table"'):]
    entries = entries[:entries.index("</table>")]
    assert "<th scope=\"row\">mars 2025</th><td class=\"num\">3\u202f000</td>" in entries
    # the quality table: 12 months ending with the last validated one, 70 % in March
    quality = page[page.index('id="quality-table"'):]
    quality = quality[:quality.index("</table>")]
    rows = re.findall(r'<th scope="row">([^<]+)</th>', quality)
    assert len(rows) == 12 and rows[-1] == "mars 2025" and rows[0] == "avril 2024"
    march = quality[quality.index("mars 2025"):]
    assert "70\u00a0%" in march[:200]
