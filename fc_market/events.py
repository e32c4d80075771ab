"""In-process domain events, so modules react to each other without importing each other.

A handler runs inside the emitter's transaction: if it raises, the whole action fails and
nothing is written.  Events in use:

- ``report.validated(version)``: a report version was validated (billing recomputes the
  payable statement, steering refreshes its aggregates and flags);
- ``report.superseded(version)``: a validated version was replaced by a correction;
- ``control.closed(campaign)``: a service-fait control campaign's outcome is final.
"""
from collections import defaultdict

_HANDLERS = defaultdict(list)


def subscribe(event, handler):
    if handler not in _HANDLERS[event]:
        _HANDLERS[event].append(handler)


def on(event):
    def decorator(handler):
        subscribe(event, handler)
        return handler
    return decorator


def emit(event, *args, **kwargs):
    for handler in list(_HANDLERS[event]):
        handler(*args, **kwargs)
