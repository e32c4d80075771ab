"""How the package hangs together: no import cycle below the views, shared column types from
one base module, the domain modules listed once, domain events connected at start-up."""
import ast
import subprocess
import sys
from pathlib import Path

from fc_market import events
from fc_market.domains import DOMAIN_MODULES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fc_market"
#: The screens and commands sit on top and may import any domain module
TOP_LAYER = ("views.py", "forms.py", "cli.py")
BASE_NAMES = {"utcnow", "MONEY", "RATE", "UNIT_PRICE"}


def module_imports():
    """(file, imported module, imported names) for every import at the top of a module."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module:
                yield path, node.module, [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name, []


def area(path_or_module):
    """``market`` for fc_market/market/…, ``access`` for fc_market/access.py."""
    parts = (path_or_module.relative_to(ROOT).with_suffix("").parts
             if isinstance(path_or_module, Path) else tuple(path_or_module.split(".")))
    return parts[1] if len(parts) > 1 and parts[0] == "fc_market" else None


def module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_no_import_cycle_below_the_views():
    modules = {module_name(path) for path in PACKAGE.rglob("*.py")}
    graph, areas = {}, {}
    for path, module, names in module_imports():
        if path.name in TOP_LAYER:
            continue
        source = module_name(path)
        targets = [f"{module}.{n}" if f"{module}.{n}" in modules else module for n in names] or [module]
        for target in targets:
            if target in modules and target != source:
                graph.setdefault(source, set()).add(target)
            if area(target) and area(target) != area(path):
                areas.setdefault(area(path), set()).add(area(target))
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
    # the four at the bottom: audit and auth import no domain module above them
    assert not areas.get("audit", set()) & {"market", "auth", "access"}
    assert not areas.get("auth", set()) & {"market", "access"}


def test_clock_and_money_types_come_from_the_base_module():
    wrong = [f"{path.relative_to(ROOT)}: {sorted(BASE_NAMES & set(names))}"
             for path, module, names in module_imports()
             if module != "fc_market.models_base" and BASE_NAMES & set(names)]
    assert wrong == []


def test_the_domain_modules_are_listed_once():
    listed = []
    for path in sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple) and len(node.elts) >= 3 and all(
                    isinstance(e, ast.Constant) and e.value in DOMAIN_MODULES for e in node.elts):
                listed.append(str(path.relative_to(ROOT)))
    assert listed == ["fc_market/domains.py"]
    assert all((PACKAGE / module / "__init__.py").is_file() for module in DOMAIN_MODULES)


def test_domain_events_are_connected_by_the_factory_not_by_an_import():
    script = (
        "from fc_market import events\n"
        "import fc_market.billing.service, fc_market.steering.service\n"
        "print(len(events.signal('report.validated').receivers))\n"
        "import config\n"
        "from fc_market import create_app\n"
        "create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI='sqlite://')\n"
        "print(' '.join(h.__module__ for h in events.signal('report.validated').receivers.values()))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "0"
    assert out[1] == "fc_market.billing.service fc_market.steering.service"


def test_handlers_run_in_the_order_they_were_connected(app):
    signal = events.signal("control.closed")
    real = list(signal.receivers.values())
    seen = []
    handlers = [lambda obj, n=n: seen.append((n, obj)) for n in range(6)]
    for handler in real:
        events.unsubscribe("control.closed", handler)
    try:
        for handler in handlers:
            events.subscribe("control.closed", handler)
        events.emit("control.closed", "campagne")
    finally:
        for handler in handlers:
            events.unsubscribe("control.closed", handler)
        for handler in real:
            events.subscribe("control.closed", handler)
    assert seen == [(n, "campagne") for n in range(6)]
    assert list(signal.receivers.values()) == real


def test_the_terms_of_the_contract_are_read_through_one_accessor():
    """The contract's terms (the columns :class:`fc_market.market.terms.LotTerms` carries) are
    read through ``lot_terms`` / ``terms_of`` by the code and the templates: nowhere else
    than where they are stored (the model, the contract file's loader) and the accessor
    itself does a ``contract.<term>`` appear."""
    import re

    terms = ("payment_term_days", "vat_rate", "rounding", "price_decimals",
             "reporting_deadline_day", "reporting_reminder_days", "late_acts_grace_days",
             "late_reporting_penalty_per_day", "late_reporting_penalty_cap",
             r"control_[a-z_]+", r"revision_[a-z_]+", "extra_terms")
    pattern = re.compile(r"contract\.(?:" + "|".join(terms) + r")\b")
    allowed = {PACKAGE / "market" / "terms.py", PACKAGE / "market" / "models.py",
               PACKAGE / "market" / "contract_file.py"}
    found = []
    for path in sorted(list(PACKAGE.rglob("*.py")) + list((ROOT / "templates").rglob("*.html"))):
        if path in allowed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:90]}")
    assert found == []
