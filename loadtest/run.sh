#!/usr/bin/env bash
# The load test: pollserve against axum, actix-web, FastAPI and the blog's http.server, under wrk.
# See loadtest/README.md. Usage: loadtest/run.sh [--quick] [--duration S] [--runs N] ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 loadtest/run.py "$@"
