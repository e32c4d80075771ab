#!/usr/bin/env python3
"""Rename the former hand-made CSS classes of the templates to the DSFR's, in place.

Idempotent and mechanical (class attributes only, no structure changed), so it can be run
again on any template merged from another branch: ``python scripts/dsfr_classes.py``
(all of ``templates/``) or ``python scripts/dsfr_classes.py path.html …``.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (pattern, replacement), applied in order
RULES = (
    (r'<button type="submit">', '<button type="submit" class="fr-btn">'),
    (r'<button type="submit" class="secondary">',
     '<button type="submit" class="fr-btn fr-btn--secondary">'),
    (r'<button type="submit" \{% if (.+?) %\}class="secondary"\{% endif %\}>',
     r'<button type="submit" class="fr-btn{% if \1 %} fr-btn--secondary{% endif %}">'),
    (r'<button type="submit" class="link">',
     '<button type="submit" class="fr-btn fr-btn--tertiary-no-outline fr-btn--sm">'),
    (r'<button class="link" type="submit">',
     '<button class="fr-btn fr-btn--tertiary-no-outline fr-btn--sm" type="submit">'),
    (r'<button type="submit" class="danger">',
     '<button type="submit" class="fr-btn fr-btn--secondary fc-btn--danger">'),
    (r'class="button secondary"', 'class="fr-btn fr-btn--secondary fr-btn--sm"'),
    (r'class="button \{\{ \'\' if (.+?) else \'secondary\' \}\}"',
     "class=\"fr-btn fr-btn--sm {{ '' if \\1 else 'fr-btn--secondary' }}\""),
    (r'class="button"', 'class="fr-btn fr-btn--sm"'),
    (r'<p class="error">', '<p class="fr-message fr-message--error">'),
)


def convert(text):
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text)
    return text


def main(paths):
    files = [Path(p) for p in paths] or sorted((ROOT / "templates").rglob("*.html"))
    changed = 0
    for path in files:
        if "macros/dsfr.html" in str(path):
            continue
        before = path.read_text(encoding="utf-8")
        after = convert(before)
        if after != before:
            path.write_text(after, encoding="utf-8")
            changed += 1
    print(f"{changed} gabarit(s) modifié(s)")


if __name__ == "__main__":
    main(sys.argv[1:])
