"""``GET /healthz`` for load balancers: 200 when the primary database answers, 503 when not.

No authentication, no session, no redirect to HTTPS (see ``SECURE_REDIRECT_EXEMPT``): a
probe only needs to know whether this worker can serve requests. With a read replica the
answer also says how far behind it is and where connection-log reads go
(``replication.ReplicaState.as_json``); a replica that is down or lagging does not make this
server unhealthy, since its reads then go to the primary.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from connlogs import replication
from connlogs.streams.scheduling import last_heartbeat

logger = logging.getLogger("connlogs.health")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """``{"status": "ok", "workers": {"last_heartbeat", "seconds_since", "alive"}}`` (200) or
    ``{"status": "unavailable", "database": "unreachable"}`` (503); with a replica,
    ``"replica": {"status", "reads", "lag_seconds", "lag_bytes", "max_lag_seconds"}``.
    ``workers``: the background workers' latest heartbeat (ISO time, seconds ago; ``None``
    before any) and how many beat in the last minute."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("health check: database unavailable: %s", error)
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    # The background workers' last heartbeat: a server without workers is still healthy (it
    # serves reads and takes events), but a stream would not be delivered.
    answer: dict = {"status": "ok", "workers": last_heartbeat()}
    if replication.monitor.measuring():
        answer["replica"] = replication.monitor.state().as_json()
    return JsonResponse(answer)
