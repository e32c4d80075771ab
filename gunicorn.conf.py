"""Production serving: gunicorn in front of the Flask app (run `gunicorn -c gunicorn.conf.py wsgi:app`).

The scheduler never runs inside web workers: start exactly one
`flask --app fc_market scheduler run` process beside gunicorn (job slots are also
recorded in the database, so a second scheduler started by mistake does not run a job twice).

Workers, threads, worker class (measured with `python -m bench.load_test`, README
"Performance"):

- ``gthread`` workers with 2 threads: a worker runs Python for one request at a time (the
  GIL), the second thread overlaps the first one's waits on PostgreSQL; more threads only
  queue more requests inside a process.
- ``workers`` defaults to cores + 1 (3 on the 2-core server): with 2 threads each, every core
  has Python to run while other requests wait on the database.  The ``2 × cores + 1`` rule
  is for single-threaded ``sync`` workers.
- ``worker_connections = threads``: a worker takes a connection from the shared listening
  socket only when one of its threads is free.  gthread's default (1,000) lets a busy worker
  accept connections and queue them behind its running requests while another worker idles:
  under load that unfair spread made the p99 latencies.  Therefore no keep-alive (an idle
  kept-alive connection would hold a thread's slot): the reverse proxy in front opens a
  connection per request, which on the loopback costs far less than the queueing it avoids.
- ``preload_app``: the application is loaded and warmed up (templates compiled, territory
  reference files parsed: ``fc_market.web.warm_up``) once in the master before it forks the
  workers, which share it; a worker restarted after ``max_requests`` starts warm.  No
  database connection is opened before the fork.
"""
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
worker_class = "gthread"
worker_connections = threads
keepalive = 0
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))  # large Excel uploads
graceful_timeout = 30
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = ('{"t":"%(t)s","remote":"%(h)s","method":"%(m)s","path":"%(U)s",'
                     '"status":%(s)s,"bytes":%(B)s,"ms":%(M)s,"ua":"%(a)s"}')
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190


def _hide_server_banner():
    """Send no ``Server:`` header: gunicorn always writes ``Server: gunicorn`` and has no
    setting to turn it off, so its response's default headers are filtered here (the config
    file is read by the master before the workers fork, so every worker inherits it)."""
    from gunicorn.http import wsgi

    if getattr(wsgi.Response.default_headers, "fc_market_no_banner", False):
        return
    original = wsgi.Response.default_headers

    def default_headers(self):
        return [line for line in original(self) if not line.lower().startswith("server:")]

    default_headers.fc_market_no_banner = True
    wsgi.Response.default_headers = default_headers


_hide_server_banner()


def post_worker_init(worker):
    """The worker's one-time preparation: reference files parsed, long-lived objects out of
    the garbage collector's way (fc_market.web.prepare_worker)."""
    from fc_market.web import prepare_worker
    prepare_worker()
