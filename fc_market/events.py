"""In-process domain events, so modules react to each other without importing each other.

Each event is a blinker signal.  A module marks its handlers with ``@events.on("…")`` (the
mark only tags the function); the application factory connects the marked handlers of every
domain module's ``service.py`` at start-up (:func:`connect_handlers`), so importing a module
never subscribes anything.  A handler runs inside the emitter's unit of work: if it raises,
the whole action fails and nothing is written.  Events in use:

- ``report.validated(version)``: a report version was validated (billing recomputes the
  payable statement, steering refreshes its aggregates and flags);
- ``report.superseded(version)``: a validated version was replaced by a correction;
- ``control.closed(campaign)``: a service-fait control campaign's outcome is final;
- ``contract.terms_changed(lot_ids)``: loading a contract file changed the steering terms
  (horizons, indicator window) in force today for these lots (steering rebuilds them).
"""
from types import FunctionType

from blinker import Namespace

#: Every event of the application
EVENTS = ("report.validated", "report.superseded", "control.closed", "contract.terms_changed")
#: The modules whose marked handlers the factory connects (``fc_market.<module>.service``)
HANDLER_FILE = "service"

_signals = Namespace()


def signal(event):
    """The blinker signal of ``event`` (an unknown name is a programming error)."""
    if event not in EVENTS:
        raise KeyError(f"unknown domain event {event!r}")
    return _signals.signal(event)


def on(event):
    """Mark ``handler`` as a handler of ``event``; :func:`connect_handlers` connects it."""
    signal(event)

    def decorator(handler):
        handler.__dict__.setdefault("handles_events", []).append(event)
        return handler
    return decorator


def subscribe(event, handler):
    signal(event).connect(handler, weak=False)


def unsubscribe(event, handler):
    signal(event).disconnect(handler)


def connect_handlers(modules):
    """Connect the marked handlers of ``modules``, in the order of the modules."""
    for module in modules:
        for value in list(vars(module).values()):
            if not isinstance(value, FunctionType):
                continue  # e.g. a proxy such as current_user: never touched here
            for event in value.__dict__.get("handles_events", ()):
                subscribe(event, value)


def emit(event, *args, **kwargs):
    """Run every handler of ``event``, in the order they were connected (the order of the
    domain modules; blinker's ``send`` does not promise an order)."""
    for handler in list(signal(event).receivers.values()):
        handler(*args, **kwargs)
