#!/usr/bin/env bash
# Runs the test suite of every client example (Python, Node.js, Go, Java, PHP,
# Ruby) against a running local server. Each suite checks the published
# vectors in examples/test-vectors.json and does a full generate/verify cycle.
#
#   SECURE2FA_CREDENTIALS=/path/to/dev-credentials.json SECURE2FA_VENV=.venv infra/examples-test.sh
#
# SECURE2FA_VENV is a Python venv with `cryptography` (infra/python-env.sh
# makes .venv). Missing Debian toolchains (golang-go, php-cli, ruby) are
# installed; Node.js 18+ and a JDK 17+ must already be there. Nothing is
# written to the tree outside ignored paths (.ci-cache/go, __pycache__ off).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

: "${SECURE2FA_CREDENTIALS:?must name the dev-credentials.json of a running server}"
: "${SECURE2FA_VENV:?must name a Python venv with cryptography installed (infra/python-env.sh makes .venv)}"
[ -s "$SECURE2FA_CREDENTIALS" ] || { echo "SECURE2FA_CREDENTIALS: no such file: $SECURE2FA_CREDENTIALS" >&2; exit 1; }
# Absolute, because `go test` runs in the package directory.
SECURE2FA_CREDENTIALS=$(realpath "$SECURE2FA_CREDENTIALS")
export SECURE2FA_CREDENTIALS
PYTHON="$SECURE2FA_VENV/bin/python"
[ -x "$PYTHON" ] || { echo "SECURE2FA_VENV: no $PYTHON" >&2; exit 1; }

step() { printf '\n==> %s   [%s]\n' "$*" "$(date +%T)"; }

missing=()
command -v go >/dev/null || missing+=(golang-go)
command -v php >/dev/null || missing+=(php-cli)
command -v ruby >/dev/null || missing+=(ruby)
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
for tool in node java javac; do
  command -v "$tool" >/dev/null || { echo "$tool is required (Node.js 18+, JDK 17+)" >&2; exit 1; }
done

JAVA_OUT=$(mktemp -d)
trap 'rm -rf "$JAVA_OUT"' EXIT

# Go: standard library only, offline, caches in an ignored directory.
export GOCACHE="$ROOT/.ci-cache/go/cache" GOPATH="$ROOT/.ci-cache/go/path"
export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off
export PYTHONDONTWRITEBYTECODE=1

failed=()
suite() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    echo "--> $name: passed"
  else
    echo "--> $name: FAILED" >&2
    failed+=("$name")
  fi
}

suite "Python" "$PYTHON" -m unittest discover -s examples/python -v
suite "Node.js ($(node --version))" node --test examples/node/secure2fa.test.mjs
suite "Go ($(go env GOVERSION))" bash -c 'cd examples/go && go vet ./... && go test -count=1 -v ./...'
suite "Java ($(javac -version 2>&1))" bash -c \
  'javac -d "$1" examples/java/*.java && java -cp "$1" Secure2FATest examples/test-vectors.json' _ "$JAVA_OUT"
suite "PHP ($(php -r 'echo PHP_VERSION;'))" php examples/php/test.php
suite "Ruby ($(ruby -e 'print RUBY_VERSION'))" ruby examples/ruby/test_secure2fa.rb -v

if [ ${#failed[@]} -gt 0 ]; then
  echo "" >&2
  echo "examples-test: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo ""
echo "examples-test: all six suites passed"
