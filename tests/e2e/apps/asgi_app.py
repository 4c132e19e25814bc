# An unmodified FastAPI app: no OpenTelemetry code.
import os

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
def index():
    return f"hello from pid {os.getpid()}\n"
