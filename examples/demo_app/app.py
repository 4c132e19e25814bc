# A plain Flask app with no OpenTelemetry code in it. Run it as you always do:
#     python app.py            (debug=True: Werkzeug reloader parent + serving child)
import os

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/")
def index():
    return jsonify(message="hello", pid=os.getpid())


@app.route("/orders/<int:order_id>")
def order(order_id):
    return jsonify(order=order_id, status="shipped")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), debug=True)
