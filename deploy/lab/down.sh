#!/usr/bin/env bash
# Stop everything deploy/lab/up.sh started, by PID; safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 deploy/lab/lab.py down "$@"
