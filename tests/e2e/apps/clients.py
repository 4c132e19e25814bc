# A test suite's way of calling the apps: in-process test clients, no socket.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "djangoproj"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_.settings")

import django
from app import app as flask_app
from asgi_app import app as fastapi_app
from django.test import Client
from starlette.testclient import TestClient

django.setup()
answers = [
    flask_app.test_client().get("/").status_code,
    TestClient(fastapi_app).get("/").status_code,
    Client().get("/").status_code,
]
print("answers", answers, flush=True)
