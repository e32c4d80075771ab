#!/usr/bin/env python3
"""Vendor the State design system (DSFR) into ``static/dsfr/`` from the npm registry.

Usage: ``python scripts/vendor_dsfr.py [version]`` (default: the pinned ``DSFR_VERSION``).

It runs ``npm pack @gouvfr/dsfr@<version>`` in a temporary directory and copies only what the
application serves: the minified CSS, the JavaScript module and its ``nomodule`` fallback, the
Marianne and Spectral fonts (woff2), the icons the DSFR's CSS refers to plus the utility icon
classes listed in ``EXTRA_ICONS`` (as a reduced ``icons.min.css``), the display-settings
pictograms, the favicon and the licence.  Nothing is fetched at run time: no CDN.
"""
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DSFR_VERSION = "1.15.3"
ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "static" / "dsfr"

#: Utility icon classes (``fr-icon-<name>``) the templates use, beyond the components' own icons.
EXTRA_ICONS = (
    "account-circle-line", "logout-box-r-line", "theme-fill", "download-line", "upload-line",
    "check-line", "close-line", "arrow-up-line", "arrow-down-line", "arrow-up-down-line",
    "arrow-right-line", "arrow-left-line", "filter-line", "search-line", "eye-line", "mail-line",
    "file-pdf-line", "settings-5-line", "lock-line", "question-line", "add-line", "edit-line",
    "delete-line", "information-line", "warning-line", "checkbox-circle-line",
    "error-warning-line", "time-line", "calendar-line", "user-setting-line", "home-4-line",
    "refresh-line", "send-plane-line", "map-pin-2-line", "money-euro-circle-line",
)

#: Files copied as they are, relative to the package's ``dist/``.
FILES = (
    "dsfr.min.css", "dsfr.module.min.js", "dsfr.nomodule.min.js",
    "favicon/favicon.svg", "favicon/favicon.ico", "favicon/apple-touch-icon.png",
    "artwork/pictograms/environment/sun.svg", "artwork/pictograms/environment/moon.svg",
    "artwork/pictograms/system/system.svg",
)


def main(version=DSFR_VERSION):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"@gouvfr/dsfr@{version}", "--silent"], cwd=tmp,
                       check=True, stdout=subprocess.DEVNULL)
        (archive,) = Path(tmp).glob("gouvfr-dsfr-*.tgz")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        package = Path(tmp) / "package"
        dist = package / "dist"
        if TARGET.exists():
            shutil.rmtree(TARGET)
        TARGET.mkdir(parents=True)

        def copy(relative):
            destination = TARGET / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(dist / relative, destination)

        for relative in FILES:
            copy(relative)
        for font in sorted((dist / "fonts").glob("*.woff2")):
            copy(f"fonts/{font.name}")
        # Icons the component CSS refers to (``url(icons/…svg)``).
        css = (dist / "dsfr.min.css").read_text(encoding="utf-8")
        for relative in sorted(set(re.findall(r"url\((icons/[^)]+\.svg)\)", css))):
            copy(relative)
        # Utility icon classes, reduced to the ones listed (top-level rules only: the rest of
        # the file is for Internet Explorer and the legacy ``fr-fi-`` aliases).
        utility = (dist / "utility/icons/icons.min.css").read_text(encoding="utf-8")
        body = utility[:utility.find("@media")]
        rules = []
        for name in EXTRA_ICONS:
            found = re.findall(r"\.fr-icon-%s:after,\.fr-icon-%s:before\{[^}]*\}"
                               % (re.escape(name), re.escape(name)), body)
            if not found:
                raise SystemExit(f"icône inconnue dans le DSFR {version} : fr-icon-{name}")
            rules.extend(found)
            for svg in re.findall(r"url\(\.\./\.\./(icons/[^)]+\.svg)\)", found[0]):
                copy(svg)
        (TARGET / "utility/icons").mkdir(parents=True, exist_ok=True)
        (TARGET / "utility/icons/icons.min.css").write_text(
            f"/*! DSFR v{version} utility icons, reduced by scripts/vendor_dsfr.py */\n"
            + "\n".join(rules) + "\n", encoding="utf-8")
        shutil.copy2(package / "LICENSE.md", TARGET / "LICENSE.md")
        (TARGET / "VERSION").write_text(version + "\n", encoding="utf-8")
    count = sum(1 for path in TARGET.rglob("*") if path.is_file())
    print(f"DSFR {version} : {count} fichiers copiés dans {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
