"""RQ jobs: no OpenTelemetry code."""

import os
import time


def hello() -> int:
    return os.getpid()


def fail() -> int:
    raise RuntimeError("this job fails")


def slow(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()
