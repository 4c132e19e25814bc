# Run by pytest inside the app venv, with OpenTelemetry variables set: the
# test client serves no socket, and otel-autoguard must leave the SDK alone.
import sys

from app import app


def test_client_works_and_sdk_is_absent():
    assert app.test_client().get("/").status_code == 200
    trace = sys.modules.get("opentelemetry.trace")
    assert getattr(trace, "_TRACER_PROVIDER", None) is None
