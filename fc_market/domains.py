"""The domain modules, listed once.

Each is a package ``fc_market/<module>/`` that may have ``views.py`` (``register(app)``),
``cli.py`` (``register(app)``), ``jobs.py`` (scheduled jobs), ``demo.py`` (``seed(ctx)``) and
``events.py`` (``connect()``: its handlers of domain events, connected by the factory).  The
web wiring, the command line, the scheduler, the demo seed and the tests all read this list.
"""
import importlib

#: In dependency order: a module's demo data and event handlers may rely on those before it
DOMAIN_MODULES = ("notifications", "territory", "reporting", "controls", "billing", "uo4",
                  "steering", "cases", "opendata", "einvoice", "consistency", "scheduler",
                  "home")


def optional_submodule(module, name):
    """``fc_market.<module>.<name>``, or None when that module has no such file (an import
    error inside an existing file is raised, never hidden)."""
    target = f"fc_market.{module}.{name}"
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if not target.startswith(str(exc.name)):
            raise
        return None


def submodules(name, modules=DOMAIN_MODULES):
    """The ``<name>.py`` of every domain module that has one, in the order of the list."""
    for module in modules:
        found = optional_submodule(module, name)
        if found is not None:
            yield found
