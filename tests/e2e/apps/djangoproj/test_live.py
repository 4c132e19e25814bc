# A Django LiveServerTestCase: its live server serves the test, not the application.
import urllib.request

from django.test import LiveServerTestCase


class LiveServerTests(LiveServerTestCase):
    databases = frozenset()

    def test_live_server_is_not_traced(self):
        for _ in range(3):
            with urllib.request.urlopen(self.live_server_url + "/") as response:
                self.assertEqual(response.status, 200)
        from opentelemetry import trace

        self.assertIsNone(trace._TRACER_PROVIDER)
