# Flask served by gevent's own WSGIServer: `python gevent_app.py` (PORT from the environment).
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

from app import app  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

WSGIServer(("127.0.0.1", int(os.environ["PORT"])), app, log=None).serve_forever()
