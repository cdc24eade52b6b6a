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
    """Each worker's SQLAlchemy pool holds one connection per thread (no more is ever used)."""
    os.environ["MAPSERVICE_POOL_SIZE"] = str(server.cfg.threads)
