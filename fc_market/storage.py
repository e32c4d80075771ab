"""Uploaded files (proofs, invoices): stored outside the web root under a random name,
with their checksum; served only by views that check the user's rights first."""
import hashlib
import os
import secrets
import unicodedata

from flask import current_app, send_file

#: Accepted types, recognised by content (magic bytes), never by name or declared type
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    #: structured invoices (CII, UBL) only: checked by fc_market.einvoice.read before storing
    "application/xml": (b"<?xml", b"\xef\xbb\xbf<?xml"),
}
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg",
              "application/xml": ".xml"}
#: What an upload accepts unless it says otherwise (XML only where a reader checks it)
DEFAULT_TYPES = ("application/pdf", "image/png", "image/jpeg")
MAX_FILE_BYTES = 10 * 1024 * 1024


class FileRefused(ValueError):
    """A French message saying why the file was refused."""


def root():
    folder = current_app.config.get("UPLOAD_FOLDER") or os.path.join(current_app.instance_path, "files")
    os.makedirs(folder, exist_ok=True)
    return folder


def sniff(data, allowed=DEFAULT_TYPES):
    for mimetype in allowed:
        if any(data.startswith(sig) for sig in SIGNATURES[mimetype]):
            return mimetype
    return None


def safe_name(filename):
    """A display name without paths or control characters."""
    name = unicodedata.normalize("NFC", os.path.basename((filename or "").replace("\\", "/")))
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    return name.strip(" .")[:200] or "fichier"


def store(data, filename, allowed=DEFAULT_TYPES, max_bytes=MAX_FILE_BYTES):
    """Write ``data``; returns (storage key, mimetype, sha256, display name)."""
    if not data:
        raise FileRefused("Le fichier est vide.")
    if len(data) > max_bytes:
        raise FileRefused(f"Le fichier dépasse la taille maximale de {max_bytes // (1024 * 1024)} Mo.")
    mimetype = sniff(data, allowed)
    if mimetype is None:
        kinds = ", ".join(sorted({EXTENSIONS[m].lstrip('.').upper() for m in allowed}))
        raise FileRefused(f"Type de fichier refusé : formats acceptés {kinds} (contrôle sur le contenu).")
    digest = hashlib.sha256(data).hexdigest()
    key = f"{secrets.token_hex(16)}{EXTENSIONS[mimetype]}"
    path = os.path.join(root(), key[:2], key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "xb") as fh:
        fh.write(data)
    return key, mimetype, digest, safe_name(filename)


def path_of(key):
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise FileNotFoundError(key)
    return os.path.join(root(), key[:2], key)


def send(key, mimetype, download_name):
    return send_file(path_of(key), mimetype=mimetype, as_attachment=True,
                     download_name=download_name)
