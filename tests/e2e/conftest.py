"""Browser journeys: the application served for real on a free localhost port (werkzeug in a
thread, against the test database), driven by Playwright with Debian's chromium.

Every page is watched: a console error, an uncaught script error, a content-security-policy
violation or a server error fails the test.  Screenshots of the key screens go to
``var/screenshots/<journey>/`` (git-ignored).
"""
import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None
try:
    from axe_playwright_python.sync_playwright import Axe
except ImportError:  # pragma: no cover - depends on the machine
    Axe = None

#: The screen every journey runs at (a common office laptop)
VIEWPORT = {"width": 1366, "height": 768}
#: axe-core impacts that fail a journey
BLOCKING_IMPACTS = ("serious", "critical")

if sync_playwright is None:
    SKIP_REASON = ("browser journeys skipped: the playwright package is not installed "
                   "(pip install -r requirements-dev.txt)")
elif Axe is None:
    SKIP_REASON = ("browser journeys skipped: axe-playwright-python is not installed "
                   "(pip install -r requirements-dev.txt)")
elif not os.access(CHROMIUM, os.X_OK):
    SKIP_REASON = (f"browser journeys skipped: {CHROMIUM} is missing (make browsers, or "
                   "apt-get install chromium)")
else:
    SKIP_REASON = None


def pytest_collection_modifyitems(config, items):
    if SKIP_REASON:
        marker = pytest.mark.skip(reason=SKIP_REASON)
        for item in items:
            if "/e2e/" in str(item.fspath).replace(os.sep, "/"):
                item.add_marker(marker)


class LiveServer:
    """The test application on 127.0.0.1:<free port>, CSRF protection switched on as in
    production."""

    def __init__(self, app):
        from werkzeug.serving import make_server
        self.app = app
        self._csrf = app.config.get("WTF_CSRF_ENABLED")
        app.config["WTF_CSRF_ENABLED"] = True
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server",
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        self.app.config["WTF_CSRF_ENABLED"] = self._csrf


@pytest.fixture(scope="module")
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


#: Collects CSP violations (reported by the page itself) as console errors.  Init scripts are
#: injected by the browser, not by the page, so the policy does not apply to them.
CSP_WATCH = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')
                + ' in ' + e.sourceFile + ':' + e.lineNumber);
});
"""


class Journey:
    """A browser tab plus the journey's screenshot folder and problem log."""

    def __init__(self, page, live_server, name):
        self.page = page
        self.base = live_server.url
        self.folder = SCREENSHOTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shots = 0
        self.problems = []
        #: Every screen checked (path → number of axe rules passed), for the report
        self.audited = {}
        self._axe = Axe()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("response", self._response)

    def _console(self, message):
        if message.type in ("error", "assert"):
            self.problems.append(f"console {message.type} on {self.page.url}: {message.text}")

    def _response(self, response):
        if response.status >= 500:
            self.problems.append(f"HTTP {response.status} on {response.url}")

    def goto(self, path):
        response = self.page.goto(self.base + path)
        assert response is not None and response.status < 400, (path, response and response.status)
        self.audit()
        return response

    def audit(self, label=None):
        """Check the screen now shown: no axe-core violation rated serious or critical, and no
        horizontal scroll at the journey's width (the document no wider than the viewport).
        Problems are collected and fail the journey at its end."""
        page = self.page
        page.wait_for_load_state()
        # a modal fading in is checked once it is shown, not half transparent
        page.wait_for_function(
            "() => document.getAnimations().every(a => a.playState !== 'running')")
        where = label or page.url.removeprefix(self.base)
        if where in self.audited:
            return
        results = self._axe.run(page)
        for violation in results.response["violations"]:
            if violation.get("impact") in BLOCKING_IMPACTS:
                targets = [" ".join(node["target"]) for node in violation["nodes"][:3]]
                self.problems.append(f"axe {violation['impact']} on {where}: {violation['id']} "
                                     f"({violation['help']}) at {targets}")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            self.problems.append(f"horizontal scroll on {where}: document {widths[0]} px wide "
                                 f"for a {widths[1]} px viewport")
        self.audited[where] = sorted(v.get("impact") or "?" for v in results.response["violations"])

    def shot(self, name):
        self.shots += 1
        path = self.folder / f"{self.shots:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def login(self, email, password):
        self.goto("/connexion")
        self.page.fill("input[name=email]", email)
        self.page.fill("input[name=password]", password)
        self.submit("main button[type=submit]")
        assert "/connexion" not in self.page.url, self.text()

    def submit(self, target):
        """Click a button or link (a selector or a locator) and wait for the next page."""
        locator = self.page.locator(target) if isinstance(target, str) else target
        with self.page.expect_navigation():
            locator.first.click()
        self.page.wait_for_load_state()
        self.audit()

    def confirm(self, opener, modal):
        """Click a button that opens a DSFR confirmation modal, wait for the modal, confirm
        it and wait for the next page; returns the modal's text (what it said would happen)."""
        locator = self.page.locator(opener) if isinstance(opener, str) else opener
        locator.first.click()
        dialog = self.page.locator(f"dialog#{modal}")
        dialog.wait_for(state="visible")
        self.page.wait_for_function(
            "(id) => document.getElementById(id).classList.contains('fr-modal--opened')", arg=modal)
        self.audit(f"{self.page.url.removeprefix(self.base)} (fenêtre {modal})")
        said = dialog.inner_text()
        self.submit(dialog.locator("button[type=submit]"))
        return said

    def text(self, selector="main"):
        locator = self.page.locator(selector)
        return locator.first.inner_text() if locator.count() else self.page.inner_text("body")

    def flashes(self):
        return " | ".join(self.page.locator("main .fr-alert").all_inner_texts())

    def check(self):
        assert not self.problems, "\n".join(self.problems)
        # every screen visited was checked
        assert self.audited, "no screen audited"
        import sys
        print(f"\n{len(self.audited)} screens audited: "
              + ", ".join(f"{k} {v}" for k, v in self.audited.items()), file=sys.stderr)


@pytest.fixture
def journey(request, chromium, live_server):
    context = chromium.new_context(locale="fr-FR", timezone_id="Europe/Paris", accept_downloads=True,
                                   viewport=VIEWPORT)
    context.add_init_script(CSP_WATCH)
    context.set_default_timeout(15000)
    page = context.new_page()
    name = request.node.name.removeprefix("test_")
    j = Journey(page, live_server, name)
    yield j
    try:
        j.check()
    finally:
        context.close()
