# An app factory, for `flask --app 'factory:create_app()' run`.
import os

from flask import Flask


def create_app():
    app = Flask(__name__)

    @app.route("/")
    def index():
        return f"factory app, pid {os.getpid()}\n"

    return app
