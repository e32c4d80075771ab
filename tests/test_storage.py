import os

import pytest

from fc_market import storage

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"


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
