#!/usr/bin/env bash
# Runs every test of Secure-2FA on a fresh machine. Installs what it needs
# (a pinned Python venv in .venv; the Lambda base image for `sam local`) and
# starts what it needs (moto servers, started by the tests themselves; a
# local server for the example client). Fails loudly if anything is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# `sam build` runs `cargo lambda build --target x86_64-unknown-linux-gnu`;
# building the tests for that same explicit target lets it reuse their
# artifacts instead of compiling the AWS SDK a second time.
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
export CARGO_LAMBDA_COMPILER=cargo SAM_BUILD_MODE=debug
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1
step() { printf '\n==> %s   [%s]\n' "$*" "$(date +%T)"; }

step "Python tools (.venv, pinned in infra/requirements-test.txt)"
infra/python-env.sh
export SECURE2FA_VENV="$ROOT/.venv"
export PATH="$ROOT/.venv/bin:$PATH"

step "Rust: unit, property, contract (SQLite and moto), HTTP, Lambda handler and budget tests"
cargo test --workspace --locked

step "Client examples (Python, Node.js, Go, Java, PHP, Ruby) against one freshly started local server"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
SERVER="$TARGET_DIR/$CARGO_BUILD_TARGET/debug/secure2fa"
DATA_DIR=$(mktemp -d)
"$SERVER" serve --data-dir "$DATA_DIR" --addr 127.0.0.1:0 > "$DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$DATA_DIR"' EXIT
for _ in $(seq 100); do [ -s "$DATA_DIR/dev-credentials.json" ] && break; sleep 0.1; done
[ -s "$DATA_DIR/dev-credentials.json" ] || { cat "$DATA_DIR/server.log"; echo "local server did not start" >&2; exit 1; }
SECURE2FA_CREDENTIALS="$DATA_DIR/dev-credentials.json" infra/examples-test.sh

step "schemathesis: every operation of the server's OpenAPI document, fuzzed (no 5xx, every answer matches its schema)"
BASE=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_url"])' "$DATA_DIR/dev-credentials.json")
TOKEN=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["operator_token"])' "$DATA_DIR/dev-credentials.json")
(cd "$DATA_DIR" && schemathesis run "$BASE/v1/openapi.json" -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,response_schema_conformance --max-examples 25 --seed 20261127 \
  --generation-database none --max-failures 20)
kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true

step "Dashboard in headless Chromium (Playwright from PyPI, Debian's chromium): the whole journey, JavaScript on and off"
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python infra/dashboard_browser_test.py --server "$SERVER" --chromium "$(command -v chromium)" \
  --screenshots "$TARGET_DIR/dashboard-screenshots"

step "SAM: validate --lint"
sam validate --lint

step "SAM: build (x86_64, reusing the test build)"
sam build --parameter-overrides Architecture=x86_64

step "SAM: local invoke of every function with events/, start-api end to end, against moto"
infra/lambda-base-image.sh
python infra/sam_local_test.py

step "All tests passed"
