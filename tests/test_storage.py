import os

import pytest

from fc_market import storage
from fc_market.demo.pdf import minimal_pdf

PDF = minimal_pdf("Preuve")


def test_store_sniffs_content_and_keeps_files_out_of_the_web_root(app):
    key, mimetype, digest, name = storage.store(PDF, "../../etc/Preuve n°1.pdf")
    assert mimetype == "application/pdf" and name == "Preuve n°1.pdf"
    path = storage.path_of(key)
    assert os.path.isfile(path) and not path.startswith(app.static_folder)
    assert open(path, "rb").read() == PDF and len(digest) == 64


@pytest.mark.parametrize("data, words", [
    (b"", "vide"),
    (b"<html><script>alert(1)</script></html>", "Type de fichier refusé"),
    (b"MZ\x90\x00 executable", "Type de fichier refusé"),
])
def test_refused_files(app, data, words):
    with pytest.raises(storage.FileRefused) as exc:
        storage.store(data, "x.pdf")
    assert words in str(exc.value)


def test_size_limit_and_path_tricks(app):
    with pytest.raises(storage.FileRefused):
        storage.store(PDF + b"0" * 100, "big.pdf", max_bytes=50)
    for key in ("../secret", "a/b", ".hidden", ""):
        with pytest.raises(FileNotFoundError):
            storage.path_of(key)


# ------------------------------------------------------------------ crafted PDFs and images

def _pdf(catalog_extra=b"", extra=()):
    from fc_market.demo.pdf import build_pdf, page_objects
    return build_pdf(page_objects("Preuve", catalog_extra) + list(extra))


def _image(kind, size=(16, 16)):
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", size, (0, 0, 145)).save(out, kind)
    return out.getvalue()


ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"\x00" * 200


@pytest.mark.parametrize("data, words", [
    (b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>\n%%EOF\n", "ne se lit pas comme un PDF"),
    (b"%PDF-1.4\n" + ELF, "pas de marque de fin %%EOF"),
    (b"%PDF-1.4\n" + ELF + b"\n%%EOF\n", "ne se lit pas comme un PDF"),
    (b"%PDF-1.4\n%%EOF\n", "ne se lit pas comme un PDF"),
    (_pdf(b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> "), "du JavaScript"),
    # names written with #xx escapes: found once parsed, not by a byte search
    (_pdf(b"/OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >> "),
     "lance à l'ouverture (/OpenAction) du JavaScript"),
    (_pdf(b"/OpenAction 6 0 R ", [b"<< /S /L#61unch /F (cmd.exe) >>"]), "lancement de programme (/Launch)"),
    (_pdf(b"/OpenAction << /S /Named /N /Print >> "), "lance à l'ouverture (/OpenAction) une action"),
    (_pdf(b"/OpenAction << /S /URI /URI (https://evil.test/) >> "), "à l'ouverture (/OpenAction) une action"),
    (_pdf(b"/Names << /E#6dbeddedFiles << /Names [(a.exe) 6 0 R] >> >> ",
          [b"<< /Type /Filespec /F (a.exe) /E#46 << /F 7 0 R >> >>",
           b"<< /Type /E#6dbeddedFile /Length 4 >>\nstream\nMZ\x90\x00\nendstream"]), "fichiers incorporés"),
    (_pdf(b"/AcroForm << /Fields [] /XFA 6 0 R >> ", [b"<< /Length 0 >>\nstream\n\nendstream"]), "XFA"),
    (_pdf() + b"<html><script>alert(1)</script></html>", "suivi d'autres données"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image PNG ne se décode pas"),
    (_image("PNG")[:-30], "image PNG ne se décode pas"),
    (b"\xff\xd8\xff\xe0" + b"<html>" * 40, "image JPEG ne se décode pas"),
    (_image("JPEG")[:200], "image JPEG ne se décode pas"),
])
def test_crafted_files_are_refused(app, data, words):
    with pytest.raises(storage.FileRefused) as exc:
        storage.check(data)
    assert words in str(exc.value)
    with pytest.raises(storage.FileRefused):
        storage.store(data, "x.pdf")


def test_a_javascript_link_annotation_and_an_encrypted_pdf_are_refused(app):
    import io

    from pypdf import PdfReader, PdfWriter
    annotated = _pdf(extra=[b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] "
                            b"/A << /S /JavaScript /JS 7 0 R >> >>", b"(app.alert\\(1\\))"])
    with pytest.raises(storage.FileRefused, match="JavaScript"):
        storage.check(annotated)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(PDF)))
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(storage.FileRefused, match="chiffré"):
        storage.check(out.getvalue())


def test_sound_files_pass(app, monkeypatch):
    assert storage.check(PDF) == "application/pdf"
    assert storage.check(_pdf(b"/OpenAction [3 0 R /Fit] ")) == "application/pdf"   # opens at page 1
    assert storage.check(_pdf(b"/OpenAction << /S /GoTo /D [3 0 R /Fit] >> ")) == "application/pdf"
    assert storage.check(_image("PNG")) == "image/png"
    assert storage.check(_image("JPEG")) == "image/jpeg"
    assert storage.check(PDF + b"\r\n") == "application/pdf"
    with pytest.raises(storage.FileRefused, match="formats acceptés PDF \\(contrôle"):
        storage.check(_image("PNG"), ("application/pdf",))
    monkeypatch.setattr(storage, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(storage.FileRefused, match="trop grande \\(16 × 16 pixels"):
        storage.check(_image("PNG"))
