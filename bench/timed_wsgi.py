"""Opt-in server-side timing for the load test (``python -m bench.load_test --timing``).

gunicorn serves ``bench.timed_wsgi:app`` instead of ``wsgi:app``: the same production
application, wrapped so that every request appends one JSON line to
``$FC_LOAD_TIMING_LOG.<worker pid>``: the load test's kind of request (header
``X-Load-Kind``), status, wall time and CPU time of the worker thread inside the
application, number and total time of the SQL statements it ran, and how long the request
waited between the client sending it (header ``X-Load-Sent``, same machine clock) and the
application starting it (queueing in gunicorn and the kernel, and the wait for a core).
The load test reads these files after the run and prints a table per kind.  Never used in
production.
"""
import json
import os
import threading
import time

from sqlalchemy import event

from fc_market.extensions import db
from wsgi import app as application

_local = threading.local()
_lock = threading.Lock()
_out = open(f"{os.environ['FC_LOAD_TIMING_LOG']}.{os.getpid()}", "a", encoding="utf-8")

with application.app_context():
    _engine = db.engine


@event.listens_for(_engine, "before_cursor_execute")
def _before(conn, cursor, statement, parameters, context, executemany):
    _local.sql_started = time.perf_counter()


@event.listens_for(_engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    if getattr(_local, "active", False):
        _local.queries += 1
        _local.sql += time.perf_counter() - _local.sql_started


def app(environ, start_response):
    received = time.time()
    _local.active, _local.queries, _local.sql = True, 0, 0.0
    status = []

    def recording_start_response(line, headers, exc_info=None):
        status.append(int(line[:3]))
        return start_response(line, headers, exc_info)

    started, cpu = time.perf_counter(), time.thread_time()
    try:
        return application(environ, recording_start_response)
    finally:
        line = {"kind": environ.get("HTTP_X_LOAD_KIND", environ.get("PATH_INFO")),
                "status": status[0] if status else 0,
                "ms": (time.perf_counter() - started) * 1000,
                "cpu_ms": (time.thread_time() - cpu) * 1000,
                "queries": _local.queries, "sql_ms": _local.sql * 1000}
        sent = environ.get("HTTP_X_LOAD_SENT")
        if sent:
            try:
                line["wait_ms"] = max(0.0, (received - float(sent)) * 1000)
            except ValueError:
                pass
        _local.active = False
        with _lock:
            _out.write(json.dumps(line) + "\n")
            _out.flush()
