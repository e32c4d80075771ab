"""Screenshots of each role's home for the README (docs/screenshots/accueil-<role>.png).

Builds the demo in a temporary SQLite database (migrate, load the demo contract, seed), serves
it on 127.0.0.1 and logs in as each demo user with Playwright driving Debian's chromium, at
1366 × 768.  Run: ``.venv/bin/python scripts/screenshots.py``.
"""
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def flask(env, *args):
    subprocess.run([sys.executable, "-m", "flask", "--app", "fc_market", *args], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)


def main():
    """``argv[1]``: a folder holding an already seeded ``demo.db`` (the seed takes minutes)."""
    tmp = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="fc_market_shots_")
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/demo.db", UPLOAD_FOLDER=f"{tmp}/files",
               SECRET_KEY="screenshots", FC_ENV="development")
    if len(sys.argv) == 1:
        flask(env, "db", "upgrade")
        flask(env, "market", "load", "contracts/cep-demo.toml")
        flask(env, "demo", "seed")
    os.environ.update(env)
    from werkzeug.serving import make_server

    from fc_market import create_app
    from fc_market.demo.seed import DOMAIN, LOGINS, MANDATAIRE_PASSWORD
    app = create_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    logins = [(role, email, password) for role, (email, password, _name) in LOGINS.items()]
    logins.insert(0, ("mandataire", f"mandataire.idf@{DOMAIN}", MANDATAIRE_PASSWORD))
    OUT.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for role, email, password in logins:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(f"{base}/connexion")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", password)
            page.click("main button[type=submit]")
            page.wait_for_url(f"{base}/accueil")
            path = OUT / f"accueil-{role}.png"
            page.screenshot(path=str(path), full_page=False)
            print(path.relative_to(ROOT))
            page.close()
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
