"""gunicorn settings for production, sized from the machine's cores.

gunicorn reads this file by itself when started from the checkout root
(``gunicorn "mapservice:create_app()"``); elsewhere pass ``--config gunicorn.conf.py``.
Every value can be overridden by the environment or on the command line.
"""
import multiprocessing
import os

cores = multiprocessing.cpu_count()

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Threaded workers: a request spends part of its time waiting on PostgreSQL, so two
# threads per process keep a core busy; one process per core (plus one) uses them all.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", cores + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
# The app is built once, in the master, and each worker is a fork of it: a worker that
# replaces a recycled one (max_requests below) serves at once instead of spending seconds
# importing and building the app while the other workers take its share.
preload_app = True
# Each worker's SQLAlchemy pool holds one connection per thread (no more is ever used).
# The master builds the app before any worker hook runs, so the size is set here: give the
# thread count as GUNICORN_THREADS rather than --threads for the two to agree.
os.environ.setdefault("MAPSERVICE_POOL_SIZE", str(threads))
keepalive = 5
timeout = 30
graceful_timeout = 20
# Recycle workers now and then (bounded memory growth), not all at once.
max_requests = 20000
max_requests_jitter = 2000
# No gunicorn access log: its lines carry the query string, i.e. searchers' coordinates.
# The app logs method, path, status and time itself (mapservice/privacy.py).
accesslog = None
errorlog = "-"


def post_fork(server, worker):
    """A worker forked from the preloaded app opens its own database connections."""
    if not server.cfg.preload_app:
        return
    from flask import Flask

    from mapservice.db_routing import release_inherited_connections

    app = server.app.wsgi()
    if isinstance(app, Flask):  # not bench/reference.py, which this file serves too
        release_inherited_connections(app)
