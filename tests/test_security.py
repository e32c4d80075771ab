"""Repository-wide checks: pages satisfy the content security policy, no secret is committed."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]


def test_templates_have_no_inline_script_or_style():
    """CSP is default-src 'self' without 'unsafe-inline': inline code would be blocked."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"\sstyle\s*=", r"\son[a-z]+\s*=\s*[\"']",
                        r"javascript:"):
            for match in re.finditer(pattern, text, flags=re.IGNORECASE):
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert offenders == []


SECRET_PATTERNS = [
    re.compile(r"-----BEGIN (RSA |EC |OPENSSH |)PRIVATE KEY-----"),
    re.compile(r"""SECRET_KEY\s*=\s*["'][^"']{16,}["']"""),
    re.compile(r"postgres(ql)?(\+\w+)?://[^:\s/]+:[^@\s]+@"),  # password in a database URL
    re.compile(r"AKIA[0-9A-Z]{16}"),
]
ALLOWED = {"config.py"}  # TestConfig's fixed key is for tests only


def test_no_secret_in_the_repository():
    found = []
    for path in tracked_files():
        if not path.is_file() or path.suffix in {".png", ".xlsx", ".pdf", ".csv"} or path.name in ALLOWED:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for pattern in SECRET_PATTERNS:
            if pattern.search(text):
                found.append(f"{path.relative_to(ROOT)}: {pattern.pattern}")
    assert found == []


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    import pytest

    import config
    from fc_market import create_app

    class Production(config.Config):
        FC_ENV = "production"
        SECRET_KEY = None

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Production, SQLALCHEMY_DATABASE_URI="sqlite://")


def _production_app():
    import config
    from fc_market import create_app

    class Production(config.TestConfig):
        FC_ENV = "production"

    return create_app(Production, SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_sends_hsts_and_development_does_not(app):
    response = _production_app().test_client().get("/connexion")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in app.test_client().get("/connexion").headers


def test_gunicorn_sends_no_server_banner():
    import runpy

    from gunicorn.http import wsgi

    runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    class Request:
        version = (1, 1)

        def should_close(self):
            return False

    response = wsgi.Response(Request(), sock=None, cfg=None)
    response.status = "200 OK"
    response.should_close = lambda: False
    lines = response.default_headers()
    assert lines[0] == "HTTP/1.1 200 OK\r\n"
    assert any(line.startswith("Date:") for line in lines)
    assert not any(line.lower().startswith("server:") for line in lines)


HUGE = "99999999999999999999999"


def test_huge_integers_in_urls_are_pages_that_do_not_exist(app, login):
    from fc_market.urlargs import DB_INT_MAX

    manager = login("manager")
    for url in (f"/reporting/versions/{HUGE}", f"/reporting/versions/{DB_INT_MAX + 1}",
                f"/audit/?page={HUGE}", f"/messages?page={HUGE}", f"/reporting/alertes?page={HUGE}",
                f"/audit/?page={DB_INT_MAX + 1}"):
        assert manager.get(url).status_code == 404, url
    # within the range: an unknown id is a 404 too, a page past the end an empty page
    assert manager.get(f"/reporting/versions/{DB_INT_MAX}").status_code == 404
    for url in ("/audit/", "/messages", "/reporting/alertes"):
        assert manager.get(f"{url}?page={DB_INT_MAX}").status_code == 200, url
        assert manager.get(f"{url}?page=abc").status_code == 200, url
        assert manager.get(f"{url}?page=-3").status_code == 200, url


def test_every_int_rule_uses_the_bounded_converter(app):
    from werkzeug.routing import IntegerConverter

    from fc_market.urlargs import DB_INT_MAX, DatabaseIntConverter

    converters = [conv for rule in app.url_map.iter_rules() for conv in rule._converters.values()
                  if isinstance(conv, IntegerConverter)]
    assert len(converters) > 20
    assert all(isinstance(conv, DatabaseIntConverter) and conv.max == DB_INT_MAX for conv in converters)
