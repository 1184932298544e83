#!/usr/bin/env bash
# Start the scale-out lab (deploy/lab/lab.py): PostgreSQL primary + streaming replica,
# PgBouncer for each, two gunicorn app servers, nginx with TLS. Run as root from a clone
# with the virtualenv installed (python3 -m venv .venv && .venv/bin/pip install -e '.[dev]').
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python ] || { echo "no .venv: python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'" >&2; exit 1; }
exec .venv/bin/python deploy/lab/lab.py up "$@"
