import os

from celery import shared_task
from django.conf import settings


@shared_task
def hello() -> str:
    """Reads Django's settings: the task runs with Django set up."""
    return f"{os.getpid()} {settings.GREETING}"
