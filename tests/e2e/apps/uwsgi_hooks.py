# The Flask app plus the application's own uWSGI hooks, set the usual ways:
# uwsgidecorators (which replaces uwsgi.post_fork_hook on import) and uwsgi.atexit.
import os

import uwsgi
from app import app  # noqa: F401 - the WSGI callable
from opentelemetry import trace
from uwsgidecorators import postfork


@postfork
def app_post_fork():
    provider = type(trace.get_tracer_provider()).__name__
    print(f"app post_fork in pid {os.getpid()} sees {provider}", flush=True)


def app_atexit():
    # Work the app does on its way out, traced like any other.
    with trace.get_tracer("app").start_as_current_span("app-atexit"):
        pass
    print(f"app atexit in pid {os.getpid()}", flush=True)


uwsgi.atexit = app_atexit
