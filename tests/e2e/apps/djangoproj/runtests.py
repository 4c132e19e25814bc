# Run as Django's own test suite runs (tests/runtests.py), and under another name.
import os
import sys

import django
from django.conf import settings
from django.test.utils import get_runner

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_.settings")
django.setup()
sys.exit(bool(get_runner(settings)().run_tests(["test_live"])))
