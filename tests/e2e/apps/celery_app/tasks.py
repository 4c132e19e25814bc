"""A Celery app with Redis as broker and result backend (CELERY_BROKER: its URL)."""

import os
import time

from celery import Celery

app = Celery("tasks", broker=os.environ["CELERY_BROKER"], backend=os.environ["CELERY_BROKER"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    # otel-autoguard's debug lines stay lines of their own (the tests read them).
    worker_redirect_stdouts=False,
    # beat sleeps about 1 s between sends: the test stops it in that sleep.
    beat_schedule={"tick": {"task": "tasks.tick", "schedule": 1.0}},
)


@app.task
def hello(seconds: float = 0.0) -> int:
    """The pid of the process that ran the task."""
    time.sleep(seconds)
    return os.getpid()


@app.task
def tick() -> int:
    return os.getpid()
