# The Flask app served by the standard library's wsgiref: a server otel-autoguard
# has no hook for.
import os
from wsgiref.simple_server import make_server

from app import app

make_server("127.0.0.1", int(os.environ["PORT"]), app).serve_forever()
