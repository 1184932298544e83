#!/usr/bin/env python3
"""The lab's parts, each started and stopped by name (deploy/lab/lab.py: the whole lab).

Paths, ports and secrets come from ``$LAB_DIR/lab.json`` (``load_state``); PostgreSQL and
PgBouncer run as ``postgres`` (runuser), nginx's workers as ``www-data``, gunicorn and any
background worker in their own process group (their PID is the group's, so ``stop`` with
``kill`` ends the whole server). Standard library only.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
DATABASE = "connlogs"
LAB_DIR = Path(os.environ.get("LAB_DIR") or "/tmp/connlogs-lab")
STATE = LAB_DIR / "lab.json"
VENV_BIN = ROOT / ".venv" / "bin"
APPS = ("app-1", "app-2")
# Background workers, started after the app servers and stopped before them. When connlogs
# has one (django-tasks' `manage.py db_worker` for the change feed and outbound deliveries),
# add it here, e.g. {"name": "worker-1", "argv": ["manage.py", "db_worker"]}: `up` starts it
# with the app servers' environment, `down` stops it, and the drill can kill it like an app.
WORKERS: list[dict] = []
ORDER = ("primary", "replica", "bouncer-primary", "bouncer-replica", *APPS, "nginx")


def say(message: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port(taken: set[int]) -> int:
    while True:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port not in taken and port != 55433:
            taken.add(port)
            return port


def pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise SystemExit("PostgreSQL is not installed (apt-get install -y postgresql)")
    return found[-1]


def run(*argv: str, user: str | None = None, check: bool = True, **kwargs):
    if user:
        argv = ("runuser", "-u", user, "--", *argv)
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(state: dict) -> None:
    STATE.write_text(json.dumps(state, indent=2))


def wait_for(what: str, test, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if test():
                return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {seconds:.0f}s (logs under {LAB_DIR})")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_data(name: str) -> Path:
    return LAB_DIR / "pg" / name


def psql(state: dict, sql: str, name: str = "primary", database: str = DATABASE) -> str:
    """Run ``sql`` directly on a cluster (not through PgBouncer); its output, unaligned."""
    out = run(
        f"{pg_bin()}/psql", "-h", HOST, "-p", str(state["ports"][name]), "-U", "postgres",
        "-d", database, "-At", "-c", sql,
    )  # fmt: skip
    return out.stdout.strip()


def start_pg(state: dict, name: str) -> None:
    run(
        f"{pg_bin()}/pg_ctl", "-D", str(pg_data(name)), "-l", str(LAB_DIR / "pg" / f"{name}.log"),
        "-w", "-t", "60", "start", user="postgres",
    )  # fmt: skip


def stop_pg(state: dict, name: str, mode: str = "fast") -> None:
    if (pg_data(name) / "postmaster.pid").exists():
        run(f"{pg_bin()}/pg_ctl", "-D", str(pg_data(name)), "-m", mode, "-w", "stop",
            user="postgres", check=False)  # fmt: skip


def init_primary(state: dict) -> None:
    data = pg_data("primary")
    run(f"{pg_bin()}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
        "--locale=C.UTF-8", user="postgres")  # fmt: skip
    settings = {
        "listen_addresses": f"'{HOST}'",
        "port": state["ports"]["primary"],
        "unix_socket_directories": f"'{LAB_DIR / 'pg'}'",
        "fsync": "on",
        "synchronous_commit": "on",
        "wal_level": "replica",
        "max_wal_senders": 5,
        "max_replication_slots": 5,
        "hot_standby": "on",
        "max_connections": 100,
        "shared_buffers": "'128MB'",
        "timezone": "'UTC'",
        # A standby query that replay would conflict with waits this long, then is cancelled.
        "max_standby_streaming_delay": "'30s'",
        "hot_standby_feedback": "on",
    }
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("\n# connlogs lab\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def init_replica(state: dict) -> None:
    data = pg_data("replica")
    run(
        f"{pg_bin()}/pg_basebackup", "-h", HOST, "-p", str(state["ports"]["primary"]),
        "-U", "postgres", "-D", str(data), "-R", "-X", "stream", "-C", "-S", "lab_replica",
        "-c", "fast", user="postgres",
    )  # fmt: skip
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {state['ports']['replica']}\n")


# --- PgBouncer ----------------------------------------------------------------------------


def bouncer_dir(name: str) -> Path:
    return LAB_DIR / name


def write_bouncer(state: dict, name: str, server: str) -> None:
    folder = bouncer_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users.txt").write_text('"postgres" ""\n')
    template = (HERE / "pgbouncer.ini").read_text()
    (folder / "pgbouncer.ini").write_text(
        template.format(
            database=DATABASE,
            host=HOST,
            server_port=state["ports"][server],
            port=state["ports"][name],
            folder=folder,
        )  # fmt: skip
    )
    shutil.chown(folder, "postgres")


def start_bouncer(state: dict, name: str) -> None:
    run("pgbouncer", "-d", str(bouncer_dir(name) / "pgbouncer.ini"), user="postgres")
    wait_for(name, lambda: socket.create_connection((HOST, state["ports"][name]), 1).close() or 1)


def stop_bouncer(state: dict, name: str, sig: int = signal.SIGTERM) -> None:
    pid = read_pid(bouncer_dir(name) / "pgbouncer.pid")
    if pid and pid_alive(pid):
        os.kill(pid, sig)
        wait_for(f"{name} to stop", lambda: not pid_alive(pid), 15)


# --- the app servers ------------------------------------------------------------------------


def app_env(state: dict, name: str | None = None, direct: bool = False) -> dict[str, str]:
    """The environment of an app server (``direct``: of a management command, connected to
    the primary itself rather than through PgBouncer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNLOGS_", "DATABASE_"))}
    for key in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(key, None)
    ports = state["ports"]
    env.update(
        SECRET_KEY=state["secret_key"],
        ALLOWED_HOSTS=f"{HOST},localhost",
        CSRF_TRUSTED_ORIGINS=f"https://{HOST}:{ports['nginx']}",
        CONNLOGS_HTTPS="true",
        CONNLOGS_TRUST_X_FORWARDED_PROTO="true",
        CONNLOGS_CLIENT_ADDRESS_HEADER="X-Forwarded-For",
        CONNLOGS_CACHE_TABLE="connlogs_cache",
        CONNLOGS_METRICS_TOKEN=state["metrics_token"],
        CONNLOGS_REPLICA_MAX_LAG="5",
        CONN_MAX_AGE="60",
        LOG_LEVEL="WARNING",
    )
    if direct:
        env["DATABASE_URL"] = f"postgres://postgres@{HOST}:{ports['primary']}/{DATABASE}"
        return env
    env.update(
        DATABASE_URL=f"postgres://postgres@{HOST}:{ports['bouncer-primary']}/{DATABASE}",
        DATABASE_REPLICA_URL=f"postgres://postgres@{HOST}:{ports['bouncer-replica']}/{DATABASE}",
        DATABASE_POOLER="transaction",
    )
    if name:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(LAB_DIR / name / "metrics")
    return env


def manage(state: dict, *args: str) -> str:
    env = app_env(state, direct=True)
    out = run(str(VENV_BIN / "python"), "manage.py", *args, cwd=ROOT, env=env)
    return out.stdout


def program_argv(state: dict, name: str) -> list[str]:
    if name in APPS:
        return [
            str(VENV_BIN / "gunicorn"), "project.wsgi:application", "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"), "--bind", f"{HOST}:{state['ports'][name]}",
            "--workers", "2", "--preload", "--timeout", "120", "--graceful-timeout", "10",
            "--error-logfile", str(LAB_DIR / name / "error.log"), "--log-level", "warning",
        ]  # fmt: skip
    worker = next(w for w in WORKERS if w["name"] == name)
    return [str(VENV_BIN / "python"), *worker["argv"]]


def start_program(state: dict, name: str) -> None:
    folder = LAB_DIR / name
    metrics = folder / "metrics"
    shutil.rmtree(metrics, ignore_errors=True)  # multiprocess files of a previous run
    metrics.mkdir(parents=True)
    with (folder / "output.log").open("ab") as log:
        process = subprocess.Popen(
            program_argv(state, name), cwd=ROOT, env=app_env(state, name), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    # Its own session: the PID is also its process group, which `kill` ends whole.
    (folder / "pid").write_text(str(process.pid))
    if name in APPS:
        url = f"http://{HOST}:{state['ports'][name]}/healthz"
        wait_for(name, lambda: urllib.request.urlopen(url, timeout=2).status == 200, 60)


def stop_program(state: dict, name: str, sig: int = signal.SIGTERM) -> None:
    pid = read_pid(LAB_DIR / name / "pid")
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # what is left of the group (workers of a dead master)
    (LAB_DIR / name / "pid").unlink(missing_ok=True)


# --- nginx ----------------------------------------------------------------------------------


def write_nginx(state: dict) -> None:
    folder = LAB_DIR / "nginx"
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    shutil.chown(folder / "tmp", "www-data")
    run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}",
        "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
    )  # fmt: skip
    upstreams = "".join(
        f"        server {HOST}:{state['ports'][app]} max_fails=0;\n" for app in APPS
    )
    text = (HERE / "nginx.conf").read_text()
    for key, value in {"FOLDER": folder, "UPSTREAMS": upstreams.rstrip(), "HOST": HOST,
                       "PORT": state["ports"]["nginx"]}.items():  # fmt: skip
        text = text.replace("{" + key + "}", str(value))
    (folder / "nginx.conf").write_text(text)


def start_nginx(state: dict) -> None:
    run("nginx", "-c", str(LAB_DIR / "nginx" / "nginx.conf"))
    context = ssl._create_unverified_context()
    url = f"https://{HOST}:{state['ports']['nginx']}/healthz"
    wait_for("nginx", lambda: urllib.request.urlopen(url, timeout=2, context=context).status == 200)


def stop_nginx(state: dict) -> None:
    pid = read_pid(LAB_DIR / "nginx" / "nginx.pid")
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGQUIT)  # graceful
        wait_for("nginx to stop", lambda: not pid_alive(pid), 15)


# --- any part, by name --------------------------------------------------------------------------


def start(state: dict, name: str) -> None:
    if name in ("primary", "replica"):
        start_pg(state, name)
    elif name.startswith("bouncer-"):
        start_bouncer(state, name)
    elif name == "nginx":
        start_nginx(state)
    else:
        start_program(state, name)


def stop(state: dict, name: str, mode: str = "fast") -> None:
    """Stop one part; ``mode`` ``immediate`` crashes PostgreSQL, ``kill`` SIGKILLs a program."""
    if name in ("primary", "replica"):
        stop_pg(state, name, mode)
    elif name.startswith("bouncer-"):
        stop_bouncer(state, name)
    elif name == "nginx":
        stop_nginx(state)
    else:
        stop_program(state, name, signal.SIGKILL if mode == "kill" else signal.SIGTERM)
