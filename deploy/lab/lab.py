#!/usr/bin/env python3
"""The scale-out lab on one machine: every part of docs/scaling.md's topology, on 127.0.0.1.

    deploy/lab/up.sh            # = python3 deploy/lab/lab.py up
    deploy/lab/down.sh          # = python3 deploy/lab/lab.py down (idempotent)
    python3 deploy/lab/lab.py status | env | stop NAME [--mode immediate] | start NAME | kill NAME

Parts (NAME): ``primary`` and ``replica`` (PostgreSQL, the replica streaming from the primary
through a replication slot, made by ``pg_basebackup -R``; fsync on), ``bouncer-primary`` and
``bouncer-replica`` (PgBouncer, transaction pooling), ``app-1`` and ``app-2`` (gunicorn),
``nginx`` (TLS with a self-signed certificate, balancing the two app servers) and the
background workers in ``parts.WORKERS`` (none yet). Ports are picked free at ``up``; everything
lives under ``$LAB_DIR`` (default /tmp/connlogs-lab): data, configuration, logs, PID files
and ``lab.json``, which records the ports and secrets for ``drill.py`` and ``down``.

Run as root: PostgreSQL and PgBouncer run as ``postgres`` (runuser), nginx's workers as
``www-data``. Standard library only, so ``down`` works without the project's virtualenv.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import socket
import sys

from parts import (
    APPS,
    DATABASE,
    HOST,
    LAB_DIR,
    ORDER,
    STATE,
    WORKERS,
    app_env,
    free_port,
    init_primary,
    init_replica,
    load_state,
    manage,
    psql,
    save_state,
    say,
    start,
    start_bouncer,
    start_nginx,
    start_pg,
    start_program,
    stop,
    wait_for,
    write_bouncer,
    write_nginx,
)


def up(args) -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: PostgreSQL and PgBouncer run as postgres via runuser")
    if load_state():
        raise SystemExit(f"a lab is recorded in {STATE}: run deploy/lab/down.sh first")
    for tool in ("pgbouncer", "nginx", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install -y pgbouncer nginx)")
    shutil.rmtree(LAB_DIR, ignore_errors=True)
    (LAB_DIR / "pg").mkdir(parents=True)
    shutil.chown(LAB_DIR / "pg", "postgres")
    taken: set[int] = set()
    names = ("primary", "replica", "bouncer-primary", "bouncer-replica", *APPS, "nginx")
    state = {
        "dir": str(LAB_DIR),
        "ports": {name: free_port(taken) for name in names},
        "secret_key": secrets.token_urlsafe(50),
        "metrics_token": secrets.token_urlsafe(24),
    }
    save_state(state)  # from here on, down.sh knows what to stop
    say(f"PostgreSQL primary on {HOST}:{state['ports']['primary']} (fsync on)")
    init_primary(state)
    start_pg(state, "primary")
    psql(state, f"CREATE DATABASE {DATABASE}", database="postgres")
    # PgBouncer refuses the "options" startup parameter: JIT is turned off here instead.
    psql(state, f"ALTER DATABASE {DATABASE} SET jit = off", database="postgres")
    say("migrate, cache table, demo data")
    manage(state, "migrate", "--noinput", "-v0")
    manage(state, "createcachetable")
    manage(state, "demo", "--rows", str(args.demo_rows))
    say(f"streaming replica on {HOST}:{state['ports']['replica']} (pg_basebackup -R)")
    init_replica(state)
    start_pg(state, "replica")
    wait_for(
        "replica streaming",
        lambda: (
            psql(state, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1"
        ),
    )
    for bouncer, server in (("bouncer-primary", "primary"), ("bouncer-replica", "replica")):
        say(f"PgBouncer {bouncer} on {HOST}:{state['ports'][bouncer]} -> {server}")
        write_bouncer(state, bouncer, server)
        start_bouncer(state, bouncer)
    for name in (*APPS, *(w["name"] for w in WORKERS)):
        say(f"{name} " + (f"on {HOST}:{state['ports'][name]}" if name in APPS else ""))
        start_program(state, name)
    write_nginx(state)
    start_nginx(state)
    say(f"up: https://{HOST}:{state['ports']['nginx']}/ (self-signed); state in {STATE}")
    say(f"metrics: curl -H 'Authorization: Bearer {state['metrics_token']}' "
        f"http://{HOST}:{state['ports']['app-1']}/metrics")  # fmt: skip


def down(args) -> None:
    state = load_state()
    if not state:
        say(f"nothing recorded in {STATE}: nothing to stop")
        return
    workers = tuple(w["name"] for w in WORKERS)
    for name in ("nginx", *workers, *APPS, "bouncer-primary", "bouncer-replica", "replica",
                 "primary"):  # fmt: skip
        with contextlib.suppress(Exception):
            stop(state, name)
    STATE.unlink(missing_ok=True)
    say(f"stopped; data left in {LAB_DIR} (removed by the next up)")


def status(args) -> None:
    state = load_state()
    for name, port in state.get("ports", {}).items():
        with socket.socket() as probe:
            probe.settimeout(1)
            listening = probe.connect_ex((HOST, port)) == 0
        print(f"{name:16} {HOST}:{port:<6} {'up' if listening else 'down'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    parser_up = sub.add_parser("up")
    parser_up.add_argument("--demo-rows", type=int, default=5000)
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("env", help="print the app servers' environment (shell syntax)")
    for verb in ("start", "stop", "kill"):
        part = sub.add_parser(verb)
        part.add_argument("name", choices=ORDER + tuple(w["name"] for w in WORKERS))
        if verb == "stop":
            part.add_argument("--mode", default="fast", choices=["fast", "immediate", "smart"])
    args = parser.parse_args()
    if args.command == "up":
        up(args)
    elif args.command == "down":
        down(args)
    elif args.command == "status":
        status(args)
    elif args.command == "env":
        for key, value in sorted(app_env(load_state(), "app-1").items()):
            if key.startswith(("CONNLOGS_", "DATABASE_", "SECRET_KEY", "ALLOWED_HOSTS")):
                print(f"export {key}='{value}'")
    elif args.command == "start":
        start(load_state(), args.name)
    else:
        stop(load_state(), args.name, "kill" if args.command == "kill" else args.mode)


if __name__ == "__main__":
    sys.exit(main())
