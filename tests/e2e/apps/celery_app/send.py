"""Send N hello tasks and print, per task, the pid that ran it (a client without OTel)."""

import sys

from tasks import hello

seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
results = [hello.delay(seconds) for _ in range(int(sys.argv[1]))]
if "--no-wait" not in sys.argv:
    print(" ".join(str(r.get(timeout=60)) for r in results), flush=True)
