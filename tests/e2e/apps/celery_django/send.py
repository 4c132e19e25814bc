"""Send N shop.tasks.hello tasks; print the pid that ran each (a client without OTel)."""

import sys

import django

django.setup()

from shop.tasks import hello  # noqa: E402

results = [hello.delay() for _ in range(int(sys.argv[1]))]
print(" ".join(r.get(timeout=60).split()[0] for r in results), flush=True)
