"""check_xlsx: hostile and broken uploads are refused before any parser sees them."""
import io
import struct
import warnings
import zipfile
import zlib

import pytest
from openpyxl import Workbook

from fc_market.excel.safety import (UnsafeWorkbook, WorkbookError, WorkbookInfo, check_xlsx,
                                    column_letters, column_number, parse_cell_ref)

SHEET = "xl/worksheets/sheet1.xml"
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure-Python tests: override the suite's database fixture (no app, no database)."""
    yield


def good_xlsx(title="Offres", rows=3):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append(["Nom", "Montant", "Date"])
    for number in range(rows):
        sheet.append([f"Offre {number}", number * 10.5, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rezip(data, replace=None, add=None, drop=()):
    """Copy the archive *data*, replacing / adding / dropping members."""
    replace, add = replace or {}, add or {}
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename in drop:
                continue
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
        for name, content in add.items():
            target.writestr(name, content)
    return out.getvalue()


def sheet_xml(body, head="", prolog='<?xml version="1.0" encoding="UTF-8"?>'):
    xml = f'{prolog}<worksheet xmlns="{NS}">{head}<sheetData>{body}</sheetData></worksheet>'
    return xml.encode()


def with_sheet(body, head=""):
    return rezip(good_xlsx(), replace={SHEET: sheet_xml(body, head)})


def refused(data, code, **limits):
    with pytest.raises(UnsafeWorkbook) as caught:
        check_xlsx(data, **limits)
    error = caught.value
    assert error.code == code, (error.code, error.message)
    assert error.message and str(error) == error.message
    return error


# -- good files ------------------------------------------------------------------------------

def test_good_workbook_is_described():
    info = check_xlsx(good_xlsx(rows=4))
    assert isinstance(info, WorkbookInfo)
    assert info.sheet_names == ["Offres"]
    sheet = info.sheet("Offres")
    assert sheet.kind == "worksheet" and sheet.state == "visible"
    assert sheet.part == SHEET
    assert sheet.dimension == "A1:C5"
    assert (sheet.declared_rows, sheet.declared_cols) == (5, 3)
    assert (sheet.max_row, sheet.max_col) == (5, 3)
    assert sheet.formula_cells == () and sheet.formula_count == 0


def test_sources_bytes_path_and_file(tmp_path):
    data = good_xlsx()
    path = tmp_path / "offres.xlsx"
    path.write_bytes(data)
    for source in (data, bytearray(data), memoryview(data), path, str(path), io.BytesIO(data)):
        assert check_xlsx(source).sheet_names == ["Offres"]


def test_several_sheets_in_workbook_order_with_state():
    workbook = Workbook()
    workbook.active.title = "Première"
    hidden = workbook.create_sheet("Cachée")
    hidden.sheet_state = "hidden"
    workbook.create_sheet("Dernière")["B2"] = 1
    buffer = io.BytesIO()
    workbook.save(buffer)
    info = check_xlsx(buffer.getvalue())
    assert info.sheet_names == ["Première", "Cachée", "Dernière"]
    assert info.sheet("Cachée").state == "hidden"
    assert (info.sheet("Dernière").max_row, info.sheet("Dernière").max_col) == (2, 2)
    with pytest.raises(WorkbookError) as caught:
        info.sheet("Absente")
    assert caught.value.code == "sheet_not_found"
    assert "« Absente » est introuvable" in caught.value.message
    assert "« Première »" in caught.value.message


def test_sheet_hyperlinks_to_websites_are_accepted():
    workbook = Workbook()
    workbook.active["A1"] = "site"
    workbook.active["A1"].hyperlink = "https://www.francecompetences.fr"
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert check_xlsx(buffer.getvalue()).sheet_names == ["Sheet"]


def test_cell_reference_helpers():
    assert parse_cell_ref("C5") == (5, 3)
    assert parse_cell_ref("$AB$12") == (12, 28)
    assert parse_cell_ref("xfd1048576") == (1048576, 16384)
    assert parse_cell_ref("5") is None and parse_cell_ref("A") is None
    assert column_number("XFD") == 16384 and column_letters(16384) == "XFD"
    assert [column_letters(n) for n in (1, 26, 27, 702, 703)] == ["A", "Z", "AA", "ZZ", "AAA"]


# -- not an xlsx -------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    "nom;montant\nOffre A;12,50\nOffre B;3\n".encode("utf-8"),
    "nom;montant\nDépôt;12,50\n".encode("cp1252"),
    b"<html><body><table><tr><td>1</td></tr></table></body></html>",
])
def test_text_renamed_as_xlsx(content):
    error = refused(content, "not_xlsx")
    assert error.message.startswith("Le fichier n'est pas un classeur Excel .xlsx valide")
    assert "CSV ou HTML" in error.message


def test_binary_garbage_and_empty_file():
    error = refused(bytes(range(256)) * 4, "not_xlsx")
    assert error.message.startswith("Le fichier n'est pas un classeur Excel .xlsx valide")
    assert refused(b"", "not_xlsx").message == "Le fichier est vide."


def test_legacy_xls_or_encrypted_ole_container():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000)
    error = refused(ole, "legacy_xls")
    assert "(.xls)" in error.message and "mot de passe" in error.message


@pytest.mark.parametrize("missing", ["[Content_Types].xml", "xl/workbook.xml"])
def test_zip_that_is_not_a_workbook(missing):
    refused(rezip(good_xlsx(), drop=[missing]), "not_xlsx")


def test_docx_renamed_as_xlsx():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    refused(out.getvalue(), "not_xlsx")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_upload(fraction):
    data = good_xlsx()
    error = refused(data[:int(len(data) * fraction)], "corrupt")
    assert "endommagé ou incomplet" in error.message


def test_corrupted_member_data_is_detected():
    data = bytearray(good_xlsx())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(SHEET)
    middle = info.header_offset + 30 + len(SHEET) + info.compress_size // 2
    data[middle] ^= 0xFF
    refused(bytes(data), "corrupt")


def test_missing_workbook_relationships():
    refused(rezip(good_xlsx(), drop=["xl/_rels/workbook.xml.rels"]), "corrupt")


def test_file_size_limit():
    error = refused(good_xlsx(), "file_too_large", max_file_size=1000)
    assert "trop volumineux" in error.message


# -- zip bombs ---------------------------------------------------------------------------------

def zip_with_zeros(megabytes, name="xl/media/zeros.bin", level=1):
    """A valid workbook plus a member of *megabytes* MB of zeros, written streaming."""
    out = io.BytesIO(rezip(good_xlsx()))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(megabytes):
                member.write(chunk)
    return out.getvalue()


def test_zip_bomb_300_mb_of_zeros_is_refused_from_the_headers():
    data = zip_with_zeros(300)
    assert len(data) < 2 * 1024 * 1024
    error = refused(data, "zip_bomb")
    assert "dépasse la taille autorisée (200 Mo)" in error.message


def test_zip_bomb_compression_ratio():
    error = refused(zip_with_zeros(3), "zip_bomb")
    assert "taux de compression anormal" in error.message
    # within a generous ratio but above a lowered total limit
    refused(zip_with_zeros(3), "zip_bomb", max_ratio=10_000, max_uncompressed=2 * 1024 * 1024)
    # small members are not subject to the ratio limit
    assert check_xlsx(rezip(good_xlsx(), add={"xl/media/a.bin": bytes(900_000)})).sheet_names


def headers_of(data, name):
    """Offsets of the local and central directory headers of member *name*."""
    encoded = name.encode()
    local = data.index(b"PK\x03\x04")
    while data[local + 30:local + 30 + len(encoded)] != encoded:
        local = data.index(b"PK\x03\x04", local + 4)
    central = data.index(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(encoded)] != encoded:
        central = data.index(b"PK\x01\x02", central + 4)
    return local, central


def patch_sizes(data, name, size, crc):
    """Rewrite the declared uncompressed size and CRC of *name* in both zip headers."""
    data = bytearray(data)
    local, central = headers_of(data, name)
    struct.pack_into("<I", data, local + 14, crc)
    struct.pack_into("<I", data, local + 22, size)
    struct.pack_into("<I", data, central + 16, crc)
    struct.pack_into("<I", data, central + 24, size)
    return bytes(data)


def test_zip_bomb_lying_about_its_size_is_stopped_while_reading():
    """Headers say 1 000 bytes (with the CRC of those bytes): only reading reveals 5 MB."""
    data = rezip(good_xlsx(), add={"docProps/custom.bin": bytes(5 * 1024 * 1024)})
    lying = patch_sizes(data, "docProps/custom.bin", 1000, zlib.crc32(bytes(1000)))
    info = zipfile.ZipFile(io.BytesIO(lying)).getinfo("docProps/custom.bin")
    assert info.file_size == 1000  # a header-only check would accept it
    error = refused(lying, "zip_bomb")
    assert "taille réelle" in error.message


def test_too_many_members():
    data = rezip(good_xlsx(), add={f"docProps/extra{n}.txt": "x" for n in range(1000)})
    refused(data, "too_many_parts")
    refused(good_xlsx(), "too_many_parts", max_members=5)


def test_unsupported_compression_method():
    out = io.BytesIO(rezip(good_xlsx()))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("docProps/extra.xml", "<x/>")
    refused(out.getvalue(), "unsupported_compression")


# -- zip tricks --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil", "xl/../../evil.xml", "/etc/passwd",
                                  "xl\\..\\evil.xml", "C:/evil.xml", "xl/a\x01b.xml"])
def test_path_tricks(name):
    data = rezip(good_xlsx())
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as archive:
        info = zipfile.ZipInfo("placeholder")
        info.filename = name  # bypass any normalisation
        archive.writestr(info, b"x")
    assert name in zipfile.ZipFile(io.BytesIO(out.getvalue())).namelist()
    error = refused(out.getvalue(), "unsafe_path")
    assert "chemin interne suspect" in error.message


@pytest.mark.parametrize("duplicate", [SHEET, SHEET.upper()])
def test_duplicate_members(duplicate):
    out = io.BytesIO(rezip(good_xlsx()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(out, "a") as archive:
            archive.writestr(duplicate, sheet_xml('<row r="1"><c r="XFD1"><v>1</v></c></row>'))
    refused(out.getvalue(), "duplicate_part")


def test_encrypted_member():
    data = bytearray(rezip(good_xlsx(), add={"docProps/secret.xml": b"<x/>"}))
    local, central = headers_of(data, "docProps/secret.xml")
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("docProps/secret.xml").flag_bits & 1
    out = io.BytesIO(bytes(data))
    error = refused(out.getvalue(), "encrypted")
    assert "mot de passe" in error.message


def test_relationship_escaping_the_archive():
    rels = zipfile.ZipFile(io.BytesIO(good_xlsx())).read("xl/_rels/workbook.xml.rels")
    rels = rels.replace(b"/xl/worksheets/sheet1.xml", b"../../../etc/passwd")
    refused(rezip(good_xlsx(), replace={"xl/_rels/workbook.xml.rels": rels}), "unsafe_path")


# -- XML ---------------------------------------------------------------------------------------

BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>')
XXE = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def test_billion_laughs_in_a_sheet():
    data = rezip(good_xlsx(), replace={SHEET: sheet_xml(
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row>',
        prolog=BILLION_LAUGHS)})
    error = refused(data, "doctype")
    assert "DOCTYPE/ENTITY" in error.message


@pytest.mark.parametrize("part", ["[Content_Types].xml", "xl/workbook.xml",
                                  "xl/_rels/workbook.xml.rels", "_rels/.rels", "xl/styles.xml",
                                  "docProps/core.xml"])
def test_xxe_in_any_part(part):
    original = zipfile.ZipFile(io.BytesIO(good_xlsx())).read(part)
    body = original.split(b"?>", 1)[1] if original.startswith(b"<?xml") else original
    refused(rezip(good_xlsx(), replace={part: XXE.encode() + body}), "doctype")


def test_lowercase_doctype_and_entity_across_a_chunk_boundary():
    padding = "<!--" + " " * (65536 - 10) + "-->"
    data = rezip(good_xlsx(), replace={SHEET: sheet_xml("", prolog=padding + "<!doctype x>")})
    refused(data, "doctype")
    data = rezip(good_xlsx(), add={"customXml/item1.xml": padding + '<!ENTITY a "b">'})
    refused(data, "doctype")


def test_shared_strings_doctype():
    data = rezip(good_xlsx(), add={"xl/sharedStrings.xml": XXE + f'<sst xmlns="{NS}"/>'})
    refused(data, "doctype")


def test_utf16_xml_is_refused():
    xml = sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>',
                    prolog='<?xml version="1.0" encoding="UTF-16"?>')
    utf16 = xml.decode().encode("utf-16")
    refused(rezip(good_xlsx(), replace={SHEET: utf16}), "unsupported_encoding")
    utf7 = sheet_xml("", prolog='<?xml version="1.0" encoding="UTF-7"?>')
    refused(rezip(good_xlsx(), replace={SHEET: utf7}), "unsupported_encoding")


def test_malformed_sheet_xml():
    data = rezip(good_xlsx(), replace={SHEET: b"<worksheet><sheetData><row><c></row>"})
    refused(data, "corrupt")


# -- active and external content ---------------------------------------------------------------

def add_relationship(data, rel_type, target, external=False):
    rels = zipfile.ZipFile(io.BytesIO(data)).read("xl/_rels/workbook.xml.rels")
    mode = ' TargetMode="External"' if external else ""
    rels = rels.replace(b"</Relationships>", f'<Relationship Id="rId99" Type="{REL}/{rel_type}" '
                        f'Target="{target}"{mode}/></Relationships>'.encode())
    return rezip(data, replace={"xl/_rels/workbook.xml.rels": rels})


def test_external_link_part():
    data = rezip(good_xlsx(), add={"xl/externalLinks/externalLink1.xml": "<externalLink/>"})
    error = refused(data, "external_link")
    assert "liaisons vers des sources externes" in error.message


def test_external_relationships():
    refused(add_relationship(good_xlsx(), "externalLink", "externalLinks/x.xml"), "external_link")
    refused(add_relationship(good_xlsx(), "worksheet", "file:///C:/autre.xlsx", external=True),
            "external_link")
    data = rezip(good_xlsx(), add={"xl/connections.xml": "<connections/>"})
    refused(data, "external_link")


def test_external_object_in_sheet_relationships():
    rels = (f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{REL}/image" Target="http://evil.example/x.png" '
            f'TargetMode="External"/></Relationships>')
    data = rezip(good_xlsx(), add={"xl/worksheets/_rels/sheet1.xml.rels": rels})
    refused(data, "external_link")


def test_macros():
    error = refused(rezip(good_xlsx(), add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}), "macro")
    assert "macros" in error.message
    refused(rezip(good_xlsx(), add={"xl/macrosheets/sheet1.xml": "<xm/>"}), "macro")
    types = zipfile.ZipFile(io.BytesIO(good_xlsx())).read("[Content_Types].xml")
    types = types.replace(b"officedocument.spreadsheetml.sheet.main+xml",
                          b"ms-excel.sheet.macroEnabled.main+xml")
    assert b"macroEnabled" in types
    refused(rezip(good_xlsx(), replace={"[Content_Types].xml": types}), "macro")
    refused(add_relationship(good_xlsx(), "vbaProject", "vbaProject.bin"), "macro")


@pytest.mark.parametrize("name", ["xl/embeddings/oleObject1.bin",
                                  "xl/embeddings/Microsoft_Word_Document.docx",
                                  "xl/activeX/activeX1.xml"])
def test_embedded_objects(name):
    error = refused(rezip(good_xlsx(), add={name: b"<x/>"}), "embedded_object")
    assert "objets incorporés" in error.message


# -- sizes -------------------------------------------------------------------------------------

def test_huge_declared_dimension():
    data = with_sheet('<row r="1"><c r="A1"><v>1</v></c></row>', '<dimension ref="A1:XFD1048576"/>')
    error = refused(data, "sheet_too_large")
    assert "1 048 576 lignes déclarées" in error.message and "200 000" in error.message


def test_declared_dimension_limits_are_parameters():
    data = with_sheet('<row r="1"><c r="A1"><v>1</v></c></row>', '<dimension ref="A1:D150"/>')
    refused(data, "sheet_too_large", max_rows=100)
    assert check_xlsx(data, max_rows=150).sheet("Offres").declared_rows == 150
    wide = with_sheet('<row r="1"><c r="A1"><v>1</v></c></row>', '<dimension ref="A1:ZZ10"/>')
    assert "702 colonnes déclarées" in refused(wide, "sheet_too_large").message


def test_far_apart_cells_are_refused_without_a_dimension():
    """calamine would allocate a 1 048 576 x 16 384 grid for these two cells."""
    data = with_sheet('<row r="1"><c r="A1"><v>1</v></c></row>'
                      '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row>')
    assert "1 048 576 lignes" in refused(data, "sheet_too_large").message
    wide = with_sheet('<row r="1"><c r="A1"><v>1</v></c><c r="AAAAA1"><v>2</v></c></row>')
    refused(wide, "sheet_too_large")


def test_cells_without_reference_are_counted():
    cells = "<c><v>1</v></c>" * 250
    refused(with_sheet(f'<row r="1">{cells}</row>'), "sheet_too_large")
    rows = "<row><c><v>1</v></c></row>" * 120
    refused(with_sheet(rows), "sheet_too_large", max_rows=100)
    info = check_xlsx(with_sheet('<row r="7"><c r="C7"><v>1</v></c><c><v>2</v></c></row>'))
    assert (info.sheet("Offres").max_row, info.sheet("Offres").max_col) == (7, 4)


def test_formatted_empty_cells_do_not_count():
    data = with_sheet('<row r="1"><c r="A1"><v>1</v></c></row>'
                      '<row r="900000"><c r="XFD900000" s="1"/></row>')
    sheet = check_xlsx(data).sheet("Offres")
    assert (sheet.max_row, sheet.max_col) == (1, 1)


def test_shared_strings_unique_count_preallocation():
    sst = f'<sst xmlns="{NS}" count="1" uniqueCount="4000000000"><si><t>a</t></si></sst>'
    error = refused(rezip(good_xlsx(), add={"xl/sharedStrings.xml": sst}), "shared_strings")
    assert "textes" in error.message
    sst = f'<sst xmlns="{NS}" count="4000000000" uniqueCount="1"><si><t>a</t></si></sst>'
    assert check_xlsx(rezip(good_xlsx(), add={"xl/sharedStrings.xml": sst})).sheet_names


# -- formulas (recorded by the same streaming pass) --------------------------------------------

def test_formulas_are_recorded():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Nom", "Montant", "Total"])
    sheet["C5"] = "=SUM(B1:B4)"
    sheet["D7"] = "=1+1"
    sheet["A8"] = "=texte"
    sheet["A8"].data_type = "s"  # a string starting with "=", not a formula
    buffer = io.BytesIO()
    workbook.save(buffer)
    info = check_xlsx(buffer.getvalue()).sheet("Sheet")
    assert info.formula_cells == ("C5", "D7") and info.formula_count == 2


def test_shared_prefixed_and_unreferenced_formulas():
    body = ('<x:row r="2"><x:c r="B2"><x:f t="shared" ref="B2:B3" si="0">A2*2</x:f>'
            '<x:v>2</x:v></x:c>'
            '</x:row><x:row r="3"><x:c r="b3"><x:f t="shared" si="0"/><x:v>4</x:v></x:c>'
            '<x:c><x:f>1+1</x:f><x:v>2</x:v></x:c></x:row>')
    xm = "http://schemas.microsoft.com/office/excel/2006/main"
    xml = (f'<x:worksheet xmlns:x="{NS}" xmlns:xm="{xm}">'
           f'<x:sheetData>{body}</x:sheetData><x:extLst><x:ext><xm:f>Listes!$A$1:$A$5</xm:f>'
           f'</x:ext></x:extLst></x:worksheet>')
    info = check_xlsx(rezip(good_xlsx(), replace={SHEET: xml.encode()})).sheet("Offres")
    assert info.formula_cells == ("B2", "B3", "C3")
    assert (info.max_row, info.max_col) == (3, 3)


def test_exception_hierarchy():
    assert issubclass(UnsafeWorkbook, WorkbookError) and issubclass(WorkbookError, Exception)
    error = UnsafeWorkbook("Message en français", "code_court")
    assert (error.message, error.code, str(error)) == ("Message en français", "code_court",
                                                      "Message en français")


# -- the grid the reader would build -------------------------------------------------------

def actes_with_far_cell(far="GR199999", header=True):
    """The 11.6 KB attack: a header row and one value at GR199999 (row 199,999 < 200,000,
    column 200 = the column limit), which made calamine build a 199,999 × 200 grid."""
    head = '<row r="1"><c r="A1" t="inlineStr"><is><t>Identifiant</t></is></c></row>' if header else ""
    row = parse_cell_ref(far)[0]
    body = head + f'<row r="{row}"><c r="{far}" t="inlineStr"><is><t>x</t></is></c></row>'
    return rezip(good_xlsx(title="Actes"), replace={SHEET: sheet_xml(body)})


def test_one_far_value_is_refused_before_any_grid_is_built(monkeypatch):
    from python_calamine import CalamineWorkbook

    from fc_market.excel import reader

    data = actes_with_far_cell()
    assert len(data) < 12_000
    error = refused(data, "sheet_too_large")
    assert error.message == (
        "La feuille « Actes » est trop étendue : ses valeurs s'étendent sur la plage A1:GR199999, "
        "soit 39 999 800 cellules (maximum 4 000 000). Supprimez les cellules remplies loin des "
        "données (par exemple GR199999) et les lignes et colonnes inutilisées, enregistrez puis "
        "réessayez.")
    assert error.details["cells"] == 199_999 * 200
    # the reader never reaches calamine with it
    monkeypatch.setattr(CalamineWorkbook, "from_filelike",
                        lambda *a: (_ for _ in ()).throw(AssertionError("calamine reached")))
    with pytest.raises(UnsafeWorkbook, match="trop étendue"):
        reader.open_checked(data).iter_rows("Actes")


def test_a_declared_dimension_spanning_too_many_cells_is_refused():
    data = with_sheet('<row r="1"><c r="A1"><v>1</v></c></row>', '<dimension ref="A1:GR199999"/>')
    error = refused(data, "sheet_too_large")
    assert "sa dimension déclarée couvre la plage A1:GR199999, soit 39 999 800 cellules" in error.message


def test_the_grid_is_what_the_values_span_and_the_limit_is_a_parameter():
    # one lone value far away is a 1-cell grid: calamine starts its grid at the first value
    lone = check_xlsx(actes_with_far_cell(header=False)).sheet("Actes")
    assert (lone.min_row, lone.min_col, lone.max_row, lone.max_col) == (199_999, 200, 199_999, 200)
    assert lone.grid_cells == 1
    # 3 data rows × 3 columns and a header: 4 × 3 = 12 cells
    info = check_xlsx(good_xlsx()).sheet("Offres")
    assert (info.min_row, info.min_col, info.grid_cells) == (1, 1, 12)
    refused(good_xlsx(), "sheet_too_large", max_grid_cells=11)
    assert check_xlsx(good_xlsx(), max_grid_cells=12).sheet("Offres").grid_cells == 12
    # the largest legitimate reporting sheet fits: 200,000 rows × 11 columns
    from fc_market.excel.safety import DEFAULT_MAX_GRID_CELLS
    assert 200_000 * 11 <= DEFAULT_MAX_GRID_CELLS
