# An unmodified Flask app: no OpenTelemetry code.
# `python app.py [debug|nodebug|noreload|processes]`.
import atexit
import os
import subprocess
import sys
import time

from flask import Flask

if os.environ.get("APP_DICTCONFIG"):
    # Flask's documented logging set-up, done after importing Flask.
    from logging.config import dictConfig

    dictConfig(
        {
            "version": 1,
            "handlers": {"wsgi": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
            "root": {"level": "INFO", "handlers": ["wsgi"]},
        }
    )

app = Flask(__name__)


@app.route("/")
def index():
    return f"hello from pid {os.getpid()}\n"


@app.route("/subprocess")
def run_subprocess():
    # A helper Python process started by the serving process: it inherits the
    # environment (WERKZEUG_RUN_MAIN included) and must not be taken for a server.
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return f"helper pid {done.stdout.strip()}\n"


if os.environ.get("APP_CLEANUP_SECONDS"):
    # The application's own shutdown work, which a second Ctrl-C would cut short.
    @atexit.register
    def cleanup():
        time.sleep(float(os.environ["APP_CLEANUP_SECONDS"]))
        print(f"cleanup done in pid {os.getpid()}", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "debug"
    app.run(
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        debug=mode not in ("nodebug", "processes"),
        use_reloader=mode == "debug",
        # A forked child per request (Werkzeug's ForkingWSGIServer).
        **({"processes": 3, "threaded": False} if mode == "processes" else {}),
    )
