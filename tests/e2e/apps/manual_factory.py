# An app factory that sets up OpenTelemetry in functions create_app() calls on
# every call, as `flask --app manual_factory run` calls it (FACTORY_CALLS times
# here, as tests and CLI commands do).
#   MANUAL_SETUP=setup-tracing  setup_tracing(app): own TracerProvider, instrument_app(app)
#   MANUAL_SETUP=own-provider   instrument_app(app, tracer_provider=its own provider), not set
#   MANUAL_SETUP=init           init_tracing(): get_tracer_provider().add_span_processor(...)
import os

from flask import Flask
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

ENDPOINT = os.environ.get("APP_TRACES_ENDPOINT")


def exporter():
    return OTLPSpanExporter(endpoint=ENDPOINT) if ENDPOINT else OTLPSpanExporter()


def setup_tracing(app):
    provider = TracerProvider(resource=Resource.create({"process.pid": os.getpid()}))
    provider.add_span_processor(BatchSpanProcessor(exporter()))  # site:provider-add
    trace.set_tracer_provider(provider)  # site:set-provider
    FlaskInstrumentor().instrument_app(app)  # site:instrument-app


def instrument_with_own_provider(app):
    # No set_tracer_provider: the provider is only handed to the instrumentation.
    provider = TracerProvider(resource=Resource.create({"process.pid": os.getpid()}))
    provider.add_span_processor(BatchSpanProcessor(exporter()))  # site:own-provider-add
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)


def init_tracing():
    trace.get_tracer_provider().add_span_processor(BatchSpanProcessor(exporter()))  # site:add


def create_app():
    app = Flask(__name__)
    setup = os.environ["MANUAL_SETUP"]
    if setup == "setup-tracing":
        setup_tracing(app)
    elif setup == "own-provider":
        instrument_with_own_provider(app)
    else:
        init_tracing()

    @app.route("/")
    def index():
        return f"factory pid {os.getpid()}\n"

    return app


for _ in range(int(os.environ.get("FACTORY_CALLS", "1")) - 1):
    create_app()
