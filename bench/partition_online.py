"""An existing installation's path to the partitioned log, timed, while a writer posts events.

Against a database whose log is still one plain table (and ``migrate`` stopped at 0011)::

    DATABASE_URL=postgres://postgres@127.0.0.1:PORT/DB .venv/bin/python \\
        bench/partition_online.py --out bench/out/partition-online.json

1. ``migrate`` (it must refuse the in-place conversion and name the online command);
2. gunicorn (2 workers) and one writer posting batches of ``--batch-events`` events (connects,
   then their disconnects a batch later, web requests) every ``--pause`` seconds;
3. ``manage.py partition_connection_log prepare``, ``backfill``, ``verify``, ``swap``, then
   ``manage.py migrate``, each timed, the writer running throughout;
4. the writer stops; rows before + rows the writer created must equal rows after, and the
   writer must have had no error answer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE))

from common import EVENTS_PATH, PY, ROOT, Http, Server, app_env, auth, logger, p50, p95  # noqa: E402
from http_load import EventMaker, event_targets  # noqa: E402

log = logger("online")


class Writer(threading.Thread):
    """Posts event batches until stopped; counts what the API answered."""

    def __init__(self, port: int, token: str, maker: EventMaker, size: int, pause: float):
        super().__init__(daemon=True)
        self.port, self.token, self.maker, self.size, self.pause = port, token, maker, size, pause
        self.stopping = threading.Event()
        self.totals = {"created": 0, "updated": 0, "unchanged": 0}
        self.errors: list[str] = []
        self.batch_ms: list[float] = []
        self.batches = 0

    def run(self) -> None:
        client = Http(self.port, timeout=600)
        while not self.stopping.is_set():
            body = json.dumps({"events": self.maker.batch(self.size)}).encode()
            started = time.perf_counter()
            try:
                response, answer = client.request("POST", EVENTS_PATH, body, auth(self.token))
            except OSError as error:
                self.errors.append(f"{time.strftime('%H:%M:%S')} {error!r}")
                continue
            self.batch_ms.append((time.perf_counter() - started) * 1000)
            self.batches += 1
            if response.status != 200:
                at = time.strftime("%H:%M:%S")
                self.errors.append(f"{at} {response.status} {answer[:300]!r}")
            else:
                for key, value in json.loads(answer).items():
                    self.totals[key] = self.totals.get(key, 0) + value
            self.stopping.wait(self.pause)

    def summary(self) -> dict:
        return {
            "batches": self.batches,
            "totals": self.totals,
            "errors": self.errors,
            "batch_p50_ms": p50(self.batch_ms) if self.batch_ms else None,
            "batch_p95_ms": p95(self.batch_ms) if self.batch_ms else None,
            "batch_max_ms": max(self.batch_ms, default=None),
        }


def manage(env: dict, *args: str, check: bool = True) -> tuple[float, str]:
    """Run ``manage.py args``; (seconds, its output)."""
    started = time.perf_counter()
    done = subprocess.run(
        [PY, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if check and done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{output[-3000:]}")
    return seconds, output


def measure_sizes(db: psycopg.Connection) -> dict:
    """Rows and bytes (heap + indexes + TOAST) of the log, its key table and its rollups."""
    found = {}
    for table in (
        "connlogs_connectionlog",
        "connlogs_connectionlog_flat",
        "connlogs_connectionkey",
        "connlogs_connectionrollup",
    ):
        if db.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is None:
            continue
        # A plain table is no partition tree: it is its own only leaf.
        size, leaves = db.execute(
            "SELECT COALESCE(sum(pg_total_relation_size(relid)), pg_total_relation_size(%s)), "
            "GREATEST(count(*), 1) FROM pg_partition_tree(%s) WHERE isleaf",
            [table, table],
        ).fetchone()
        rows = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        found[table] = {"rows": rows, "bytes": int(size), "tables": leaves}
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch-events", type=int, default=200)
    ap.add_argument("--pause", type=float, default=0.5)
    ap.add_argument("--backfill-batch", type=int, default=10_000)
    args = ap.parse_args()
    database_url = os.environ["DATABASE_URL"]
    env = app_env(database_url)
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,testserver")
    from common import bench_tokens, setup_django

    setup_django(database_url)
    import connlogs
    from connlogs.storage import conversion

    result: dict = {"code": str(Path(connlogs.__file__).parent), "phases": {}}
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        out.write_text(json.dumps(result, indent=2, default=str))

    db = psycopg.connect(database_url, autocommit=True)
    seconds, output = manage(env, "migrate", check=False)
    result["migrate_refused"] = {
        "seconds": seconds,
        "names_command": "partition_connection_log" in output,
        "message": output.strip().splitlines()[-1],
    }
    log(f"migrate before: {result['migrate_refused']['message']}")
    if not result["migrate_refused"]["names_command"]:
        raise SystemExit("migrate did not refuse with the online command's name")
    result["before"] = measure_sizes(db)
    log(f"before: {result['before']}")
    save()

    tokens = bench_tokens([])
    workspaces, users = event_targets(db)
    server = Server(env, HERE / "out" / "logs" / "partition-online-gunicorn.log")
    server.start()
    writer = Writer(
        server.port,
        tokens["owner"],
        EventMaker(workspaces, users, seed=13),
        args.batch_events,
        args.pause,
    )
    try:
        writer.start()
        time.sleep(5)
        steps = [
            ("prepare", ["partition_connection_log", "prepare"]),
            ("backfill", ["partition_connection_log", "backfill", "-v", "2",
                          "--batch-size", str(args.backfill_batch)]),
            ("verify", ["partition_connection_log", "verify"]),
            ("swap", ["partition_connection_log", "swap"]),
            ("migrate", ["migrate"]),
        ]  # fmt: skip
        for name, command in steps:
            log(f"{name} ...")
            seconds, output = manage(env, *command)
            lines = output.strip().splitlines()
            result["phases"][name] = {
                "seconds": seconds,
                "output": lines[-3:],
                "writer_batches_so_far": writer.batches,
                "writer_errors_so_far": len(writer.errors),
            }
            log(f"{name}: {seconds:.1f} s; {lines[-1] if lines else ''}")
            save()
        time.sleep(5)
    finally:
        writer.stopping.set()
        writer.join(700)
        server.stop()
    result["writer"] = writer.summary()
    with db.cursor() as cursor:
        result["state_after"] = conversion.state(cursor)
    result["after"] = measure_sizes(db)
    before = result["before"]["connlogs_connectionlog"]["rows"]
    after = result["after"]["connlogs_connectionlog"]["rows"]
    created = writer.totals["created"]
    result["rows_check"] = {
        "before": before,
        "written": created,
        "after": after,
        "holds": before + created == after,
    }
    log(f"writer: {result['writer']['totals']}, {len(writer.errors)} errors")
    log(f"rows: {before:,} + {created:,} = {before + created:,}; after {after:,}")
    save()
    return 0 if result["rows_check"]["holds"] and not writer.errors else 1


if __name__ == "__main__":
    sys.exit(main())
