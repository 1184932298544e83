"""gunicorn settings for connlogs servers (used by deploy/lab; fit for production too).

With ``PROMETHEUS_MULTIPROC_DIR`` set (an empty folder per server, emptied before it
starts), each worker writes its metrics there and /metrics sums them; a worker that exits
is marked dead so its gauges stop counting (prometheus_client's multiprocess mode).
"""

import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
