"""Enqueue `hello` N times, then one failing job and one that times out; print the job ids.

`python enqueue.py URL N [--plain]`: `--plain` only the N hello jobs.
"""

import sys

import jobs
from redis import Redis
from rq import Queue

queue = Queue(connection=Redis.from_url(sys.argv[1]))
enqueued = [queue.enqueue(jobs.hello) for _ in range(int(sys.argv[2]))]
if "--plain" not in sys.argv:
    enqueued.append(queue.enqueue(jobs.fail))
    enqueued.append(queue.enqueue(jobs.slow, 30, job_timeout=1))
print(" ".join(job.id for job in enqueued), flush=True)
