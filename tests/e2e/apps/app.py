# An unmodified Flask app: no OpenTelemetry code. `python app.py [nodebug|noreload]`.
import os
import sys

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return f"hello from pid {os.getpid()}\n"


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "debug"
    app.run(
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        debug=mode != "nodebug",
        use_reloader=mode == "debug",
    )
