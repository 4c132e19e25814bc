"""A Flask app whose request sends a task (no OpenTelemetry code): `flask --app web run`."""

from flask import Flask
from tasks import hello

app = Flask(__name__)


@app.route("/")
def index() -> str:
    return hello.delay().id
