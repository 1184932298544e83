#!/usr/bin/env bash
# Start the scale-out lab (deploy/lab/lab.py): PostgreSQL primary + streaming replica,
# PgBouncer for each, two gunicorn app servers, nginx with TLS. Run as root; from a clean
# clone it first makes the virtualenv (.venv) the README's test command would make.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv/bin/gunicorn ]; then
    echo "== installing the project into .venv"
    python3 -m venv .venv && .venv/bin/pip install -q -e .
fi
exec .venv/bin/python deploy/lab/lab.py up "$@"
