# The Flask app served from a multiprocessing.Process child:
# `python mp_server.py METHOD SERVER`, METHOD a start method or "default" (forkserver
# on Linux from 3.14, fork before), SERVER "werkzeug" or "wsgiref".
import multiprocessing
import os
import sys


def serve(port, server):
    from app import app

    if server == "werkzeug":
        app.run(host="127.0.0.1", port=port, use_reloader=False)
    else:
        from wsgiref.simple_server import make_server

        make_server("127.0.0.1", port, app).serve_forever()


if __name__ == "__main__":
    method, server = sys.argv[1], sys.argv[2]
    ctx = multiprocessing.get_context(None if method == "default" else method)
    print(f"start method {ctx.get_start_method()}", flush=True)
    child = ctx.Process(target=serve, args=(int(os.environ["PORT"]), server))
    child.start()
    child.join()
    print(f"server exited {child.exitcode}", flush=True)
