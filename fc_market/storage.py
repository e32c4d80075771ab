"""Uploaded files (proofs, invoices): stored outside the web root under a random name,
with their checksum; served only by views that check the user's rights first.

Every upload goes through :func:`check`: the type is recognised by content (magic bytes),
then the file must really be what it says. A PDF is parsed (pypdf) and refused when it does
not parse, carries JavaScript, an action run on opening or a program launch, embedded files,
or data after its end; an image is decoded in full (Pillow).
"""
import hashlib
import io
import logging
import os
import re
import secrets
import unicodedata
import warnings

from flask import current_app, send_file

from fc_market import unit_of_work
from fc_market.extensions import db

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
LABELS = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG", "application/xml": "XML"}
MAX_FILE_BYTES = 10 * 1024 * 1024
#: Folder (under the storage root) of files written by a unit of work that has not committed
STAGING = "_staging"
#: Largest image accepted (a page scanned at 600 dpi is 35 Mpx); decoding one costs ~3 bytes a pixel
MAX_IMAGE_PIXELS = 40_000_000
#: Most objects a PDF may hold (a 10 MB invoice or proof has a few thousand)
MAX_PDF_OBJECTS = 100_000
#: PDF actions that run code, send data or open something outside the document
PDF_FORBIDDEN_ACTIONS = {"/JavaScript": "du JavaScript", "/Launch": "une action de lancement de programme (/Launch)",
                         "/ImportData": "une action d'import de données", "/SubmitForm": "un envoi de formulaire",
                         "/GoToE": "un renvoi vers un fichier incorporé", "/Rendition": "une action multimédia",
                         "/RichMediaExecute": "une action multimédia"}
#: PDF keys whose mere presence refuses the file
PDF_FORBIDDEN_KEYS = {"/JS": "du JavaScript", "/JavaScript": "du JavaScript",
                      "/EmbeddedFiles": "des fichiers incorporés", "/EmbeddedFile": "des fichiers incorporés",
                      "/EF": "des fichiers incorporés", "/XFA": "un formulaire XFA (scripts)",
                      "/RichMedia": "du contenu multimédia actif"}
#: The same, looked for in the raw bytes too (objects no cross-reference table points at)
PDF_FORBIDDEN_RAW = re.compile(rb"/(JavaScript|Launch|EmbeddedFiles?)\b")


class FileRefused(ValueError):
    """A French message saying why the file was refused; ``reason`` is its short form."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message


def root():
    folder = current_app.config.get("UPLOAD_FOLDER") or os.path.join(current_app.instance_path, "files")
    os.makedirs(folder, exist_ok=True)
    return folder


def sniff(data, allowed=DEFAULT_TYPES):
    for mimetype in allowed:
        if any(data.startswith(sig) for sig in SIGNATURES[mimetype]):
            return mimetype
    return None


def kinds_label(allowed):
    labels = [LABELS[m] for m in SIGNATURES if m in allowed]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " ou " + labels[-1]


def check(data, allowed=DEFAULT_TYPES, attachments=frozenset()):
    """The file's type if ``data`` is a sound file of one of the ``allowed`` types, else
    :class:`FileRefused` saying why (in French).

    ``attachments``: names of the only files a PDF may embed (a Factur-X invoice carries its
    XML, already read by ``fc_market.einvoice.read``); none otherwise.  XML is checked by
    its own reader (``fc_market.einvoice.read``) before it comes here.
    """
    mimetype = sniff(data, allowed)
    if mimetype is None:
        reason = f"formats acceptés {kinds_label(allowed)} (contrôle sur le contenu)"
        raise FileRefused(f"Type de fichier refusé : {reason}.", reason)
    if mimetype == "application/pdf":
        problem = _pdf_problem(data, frozenset(attachments))
    elif mimetype in ("image/png", "image/jpeg"):
        problem = _image_problem(data, mimetype)
    else:
        problem = None
    if problem:
        raise FileRefused(f"Fichier refusé : {problem}.", problem)
    return mimetype


def _pdf_problem(data, attachments=frozenset()):
    """Why this PDF is refused, or None (``attachments``: the embedded file names allowed)."""
    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    if not data.rstrip(b"\r\n\t \x00").endswith(b"%%EOF"):
        return "le PDF est incomplet ou suivi d'autres données (pas de marque de fin %%EOF)"
    for match in PDF_FORBIDDEN_RAW.finditer(data):
        name = "/" + match.group(1).decode()
        if attachments and name.startswith("/EmbeddedFile"):
            continue
        return "le PDF contient " + PDF_FORBIDDEN_KEYS.get(name) if name in PDF_FORBIDDEN_KEYS \
            else "le PDF contient " + PDF_FORBIDDEN_ACTIONS[name]
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                return "le PDF est chiffré ou protégé par un mot de passe (déposez-le sans protection)"
            if len(reader.pages) < 1:
                return "le PDF n'a aucune page"
            refs = [(idnum, gen) for gen, ids in reader.xref.items() for idnum in ids]
            refs += [(idnum, 0) for idnum in reader.xref_objStm]
            if len(refs) > MAX_PDF_OBJECTS:
                return f"le PDF compte plus de {MAX_PDF_OBJECTS} objets"
            if attachments:
                embedded = set(reader.attachments)
                if not embedded <= attachments:
                    names = ", ".join(sorted(embedded - attachments))
                    return f"le PDF contient des fichiers incorporés autres que la facture ({names})"
            forbidden_keys = {k: v for k, v in PDF_FORBIDDEN_KEYS.items()
                              if not (attachments and v == "des fichiers incorporés")}
            objects = [reader.trailer] + [reader.get_object(IndirectObject(i, g, reader)) for i, g in refs]
            stack = list(objects)
            while stack:
                obj = stack.pop()
                if isinstance(obj, DictionaryObject):
                    for key, value in obj.items():
                        if key in forbidden_keys:
                            return "le PDF contient " + forbidden_keys[key]
                        if key == "/S" and value in PDF_FORBIDDEN_ACTIONS:
                            return "le PDF contient " + PDF_FORBIDDEN_ACTIONS[value]
                        if key == "/OpenAction":
                            action = value.get_object() if isinstance(value, IndirectObject) else value
                            if isinstance(action, DictionaryObject) and action.get("/S") != "/GoTo":
                                kind = action.get("/S")
                                return ("le PDF lance à l'ouverture (/OpenAction) "
                                        + PDF_FORBIDDEN_ACTIONS.get(kind, "une action"))
                        if not isinstance(value, IndirectObject):
                            stack.append(value)
                elif isinstance(obj, ArrayObject):
                    stack.extend(v for v in obj if not isinstance(v, IndirectObject))
    except Exception:  # noqa: BLE001 - whatever pypdf raises, the file does not parse
        return "le fichier ne se lit pas comme un PDF (structure invalide ou endommagée)"
    return None


def _image_problem(data, mimetype):
    """Why this image is refused, or None: it must decode entirely, within a pixel budget."""
    from PIL import Image

    expected = {"image/png": "PNG", "image/jpeg": "JPEG"}[mimetype]
    label = LABELS[mimetype]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    return (f"l'image {label} est trop grande ({width} × {height} pixels ; "
                            f"{MAX_IMAGE_PIXELS // 1_000_000} millions de pixels au plus)")
                img.verify()
            with Image.open(io.BytesIO(data), formats=[expected]) as img:
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"l'image {label} est trop grande"
    except Exception:  # noqa: BLE001 - whatever Pillow raises, the image does not decode
        return f"l'image {label} ne se décode pas (fichier endommagé ou qui n'est pas une image)"
    return None


def safe_name(filename):
    """A display name without paths or control characters."""
    name = unicodedata.normalize("NFC", os.path.basename((filename or "").replace("\\", "/")))
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    return name.strip(" .")[:200] or "fichier"


def store(data, filename, allowed=DEFAULT_TYPES, max_bytes=MAX_FILE_BYTES, attachments=frozenset()):
    """Write ``data`` once :func:`check` passed; returns (storage key, mimetype, sha256,
    display name)."""
    if not data:
        raise FileRefused("Le fichier est vide.")
    if len(data) > max_bytes:
        raise FileRefused(f"Le fichier dépasse la taille maximale de {max_bytes // (1024 * 1024)} Mo.")
    mimetype = check(data, allowed, attachments)
    digest = hashlib.sha256(data).hexdigest()
    key = f"{secrets.token_hex(16)}{EXTENSIONS[mimetype]}"
    path = os.path.join(root(), key[:2], key)
    staged = os.path.join(root(), STAGING, key)
    os.makedirs(os.path.dirname(staged), exist_ok=True)
    with open(staged, "xb") as fh:
        fh.write(data)
    # In place when the unit of work commits; deleted if it rolls back: no orphan on disk.
    unit_of_work.stage_file(db.session(), staged, path)
    return key, mimetype, digest, safe_name(filename)


def path_of(key):
    """Where the file of ``key`` is (its staged copy until the unit that wrote it commits)."""
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise FileNotFoundError(key)
    path = os.path.join(root(), key[:2], key)
    return unit_of_work.staged_path_of(db.session(), path) or path


def send(key, mimetype, download_name):
    return send_file(path_of(key), mimetype=mimetype, as_attachment=True,
                     download_name=download_name)
