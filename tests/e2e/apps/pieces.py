# A Flask app with the pieces the Flask instrumentation must keep its place among:
# its wsgi_app wrapped by ProxyFix after construction, a before_request hook of its own
# that answers /early itself, a route with a variable. No OpenTelemetry code.
# `python pieces.py [debug|nodebug]`. At exit, each process prints which
# opentelemetry.instrumentation modules it imported.
import atexit
import os
import sys

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)


@app.before_request
def answer_early():
    if request.path == "/early":
        return f"early from pid {os.getpid()}\n"
    return None


@app.route("/")
def index():
    return f"hello from pid {os.getpid()} for {request.remote_addr}\n"


@app.route("/items/<int:item>")
def item(item):
    return f"item {item} from pid {os.getpid()}\n"


@atexit.register
def report():
    loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry.instrumentation"))
    print(f"instrumentation in pid {os.getpid()}: {' '.join(loaded) or '-'}", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "debug"
    app.run(
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        debug=mode == "debug",
        use_reloader=mode == "debug",
    )
