#!/usr/bin/env bash
# Runs every test of Secure-2FA on a fresh machine. Installs what it needs
# (a pinned Python venv in .venv), starts what it needs (a local server for
# the example client; moto servers for the AWS adapters, started by the Rust
# tests themselves), and fails loudly if anything is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
step() { printf '\n==> %s\n' "$*"; }

step "Python tools (.venv, pinned in infra/requirements-test.txt)"
infra/python-env.sh
export SECURE2FA_VENV="$ROOT/.venv"

step "Rust: unit, property, contract and HTTP tests"
cargo test --workspace --locked

step "Python example client against a freshly started local server"
cargo build --locked -p secure2fa --bin secure2fa
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
DATA_DIR=$(mktemp -d)
"$TARGET_DIR/debug/secure2fa" serve --data-dir "$DATA_DIR" --addr 127.0.0.1:0 > "$DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$DATA_DIR"' EXIT
for _ in $(seq 100); do [ -s "$DATA_DIR/dev-credentials.json" ] && break; sleep 0.1; done
[ -s "$DATA_DIR/dev-credentials.json" ] || { cat "$DATA_DIR/server.log"; echo "local server did not start" >&2; exit 1; }
SECURE2FA_CREDENTIALS="$DATA_DIR/dev-credentials.json" .venv/bin/python -m unittest discover -s examples/python -v
kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true

step "All tests passed"
