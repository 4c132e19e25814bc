# An app factory, for `flask --app 'factory:create_app()' run`, with a custom
# command that serves (`flask --app 'factory:create_app()' serve-dev`).
import os

from flask import Flask


def create_app():
    app = Flask(__name__)

    @app.route("/")
    def index():
        return f"factory app, pid {os.getpid()}\n"

    @app.cli.command("serve-dev")
    def serve_dev():
        # Flask ignores app.run() inside a CLI command; serve with Werkzeug directly.
        from werkzeug.serving import run_simple

        run_simple("127.0.0.1", int(os.environ["PORT"]), app)

    return app
