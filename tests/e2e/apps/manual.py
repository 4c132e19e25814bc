# A Flask app that sets up OpenTelemetry itself, in one of the ways users do.
# `python manual.py [debug|nodebug]`, with MANUAL_SETUP naming the way:
#   module-top   TracerProvider + BatchSpanProcessor + exporter + set_tracer_provider
#                + FlaskInstrumentor().instrument(), at import
#   run-main     the same, only where WERKZEUG_RUN_MAIN=true (the reloader child)
#   add          trace.get_tracer_provider().add_span_processor(BatchSpanProcessor(...))
#   twice        module-top, and this module imported a second time as `manual`
# APP_TRACES_ENDPOINT sends the app's own exporter elsewhere (its own collector);
# unset, it reads OTEL_EXPORTER_OTLP_ENDPOINT like otel-autoguard's.
import os
import sys

from flask import Flask
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

SETUP = os.environ["MANUAL_SETUP"]
ENDPOINT = os.environ.get("APP_TRACES_ENDPOINT")


def exporter():
    return OTLPSpanExporter(endpoint=ENDPOINT) if ENDPOINT else OTLPSpanExporter()


def module_top_setup():
    provider = TracerProvider(resource=Resource.create({"process.pid": os.getpid()}))
    provider.add_span_processor(BatchSpanProcessor(exporter()))  # site:provider-add
    trace.set_tracer_provider(provider)  # site:set-provider
    FlaskInstrumentor().instrument()  # site:instrument


if SETUP in ("module-top", "twice"):
    module_top_setup()
elif SETUP == "run-main":
    if os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        module_top_setup()
elif SETUP == "add":
    trace.get_tracer_provider().add_span_processor(BatchSpanProcessor(exporter()))  # site:add

app = Flask(__name__)


@app.route("/")
def index():
    return f"hello from pid {os.getpid()}\n"


if __name__ == "__main__":
    if SETUP == "twice":
        import manual  # noqa: F401 - the second import runs the set-up again
    mode = sys.argv[1] if len(sys.argv) > 1 else "debug"
    app.run(
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        debug=mode == "debug",
        use_reloader=mode == "debug",
    )
