"""The environment switches of docs/scaling.md, read by project/settings.py in a fresh
process (settings are evaluated once per process)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRIMARY = "postgres://u@db.example:5432/connlogs"
SWITCHES = ("DATABASE_REPLICA_URL", "CONNLOGS_DB_JIT", "CONNLOGS_CACHE_TABLE", "DATABASE_POOLER")


def settings_with(env: dict) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'aliases': sorted(settings.DATABASES), "
        "'routers': settings.DATABASE_ROUTERS, "
        "'mirror': settings.DATABASES.get('replica', {}).get('TEST', {}).get('MIRROR'), "
        "'options': {a: d.get('OPTIONS', {}).get('options') for a, d in "
        "settings.DATABASES.items()}, "
        "'cache': settings.CACHES['default'], "
        "'prepare': {a: d.get('OPTIONS', {}).get('prepare_threshold', 'default') for a, d in "
        "settings.DATABASES.items()}, "
        "'binding': {a: d.get('OPTIONS', {}).get('server_side_binding') for a, d in "
        "settings.DATABASES.items()}, "
        "'server_side_cursors': {a: not d.get('DISABLE_SERVER_SIDE_CURSORS') for a, d in "
        "settings.DATABASES.items()}}))"
    )
    environment = {
        **{k: v for k, v in os.environ.items() if k not in SWITCHES},
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "SECRET_KEY": "test",
        "DATABASE_URL": PRIMARY,
        **env,
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=environment, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_behind_a_transaction_pooler_nothing_outlives_a_transaction():
    replica = "postgres://u@replica.example:6432/connlogs"
    found = settings_with({"DATABASE_POOLER": "transaction", "DATABASE_REPLICA_URL": replica})
    # No prepared statements, no WITH HOLD cursors, no startup options (PgBouncer refuses
    # "options"; JIT is set per database instead).
    assert found["prepare"] == {"default": None, "replica": None}
    assert found["binding"] == {"default": None, "replica": None}
    assert found["server_side_cursors"] == {"default": False, "replica": False}
    assert found["options"] == {"default": None, "replica": None}


def test_without_a_pooler_searches_are_bound_by_the_server_and_prepared():
    found = settings_with({"DATABASE_REPLICA_URL": "postgres://u@replica.example:5432/c"})
    # One SQL text whatever the values, prepared at its third run on a connection, so
    # PostgreSQL can reuse a generic plan instead of planning every partition each time.
    assert found["binding"] == {"default": True, "replica": True}
    assert found["prepare"] == {"default": 2, "replica": 2}
    assert found["server_side_cursors"] == {"default": True, "replica": True}
    assert settings_with({"DATABASE_POOLER": "session"})["prepare"] == {"default": 2}


def test_database_replica_url_adds_the_alias_and_the_router():
    found = settings_with({"DATABASE_REPLICA_URL": "postgres://u@replica.example:5432/connlogs"})
    assert found["aliases"] == ["default", "replica"]
    assert found["routers"] == ["connlogs.routers.ReplicaRouter"]
    assert found["mirror"] == "default"
    # Both PostgreSQL aliases run without JIT.
    assert found["options"] == {"default": "-c jit=off", "replica": "-c jit=off"}


def test_by_default_one_database_no_router_no_jit_and_a_per_process_cache():
    found = settings_with({})
    assert found["aliases"] == ["default"] and found["routers"] == []
    assert found["options"] == {"default": "-c jit=off"}
    assert found["cache"]["BACKEND"].endswith("LocMemCache")


def test_jit_can_be_left_on():
    assert settings_with({"CONNLOGS_DB_JIT": "on"})["options"] == {"default": None}


def test_a_cache_table_shares_the_cache_between_servers():
    cache = settings_with({"CONNLOGS_CACHE_TABLE": "connlogs_cache"})["cache"]
    assert cache == {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "connlogs_cache",
    }
