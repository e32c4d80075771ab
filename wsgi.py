"""WSGI entry point for production servers: ``gunicorn -c gunicorn.conf.py wsgi:app``.

gunicorn loads it once in its master process (``preload_app``): the warm-up (templates,
territory reference files, see :func:`fc_market.web.warm_up`) happens here, before the
workers fork, and the workers share it.  Nothing here opens a database connection (each
worker opens its own)."""
from fc_market import create_app
from fc_market.web import warm_up

app = create_app()
warm_up(app)
