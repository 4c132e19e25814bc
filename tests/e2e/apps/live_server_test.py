# Run as `python -c "import pytest; pytest.main([...])"`, as a pytest-xdist worker
# runs: a test that starts a real Werkzeug server must not configure the SDK.
import threading
import urllib.request

from app import app
from werkzeug.serving import make_server


def test_live_server_is_not_traced():
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/") as r:
            assert r.status == 200
    finally:
        server.shutdown()
    from opentelemetry import trace

    assert trace._TRACER_PROVIDER is None
