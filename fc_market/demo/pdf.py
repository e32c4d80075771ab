"""A small, well-formed one-page PDF (demonstration invoices and proofs, tests): uploads
are parsed, so a bare ``%PDF-`` header no longer passes."""


def _escape(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def build_pdf(objects):
    """A PDF file of these object bodies (object 1 is the catalog), with a correct
    cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def page_objects(text, catalog_extra=b""):
    """The five objects of an A4 page showing ``text`` (ASCII) in Helvetica."""
    content = f"BT /F1 14 Tf 72 770 Td ({_escape(text)}) Tj ET".encode("ascii")
    return [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


def minimal_pdf(text="Document de demonstration fc_market"):
    """The bytes of an A4 page showing ``text``: same text, same bytes."""
    return build_pdf(page_objects(text))
