#!/usr/bin/env bash
# Cold start (init) and warm invoke of the generate and verify Lambdas,
# measured in one interleaved run with the hello / hello-http / sdk-init
# baselines of the shared harness (a mock of the Lambda Runtime API).
#
#   infra/bench-coldstart.sh [runtime_mock.py options, e.g. --trials 50]
#
# BENCH_COLDSTART_DIR points at the harness (default: ../shared/bench-coldstart
# next to this repository). Both sides are built with cargo's default release
# profile plus strip, as the baselines are. The invoke event is the harness's
# own POST /otp/generate: refused as `invalid_body` before any AWS call, so
# the invoke figure is our routing and JSON overhead, AWS I/O aside.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${BENCH_COLDSTART_DIR:-$ROOT/../shared/bench-coldstart}
[ -f "$HARNESS/run.sh" ] || { echo "no cold-start harness at $HARNESS (set BENCH_COLDSTART_DIR)" >&2; exit 1; }
unset CARGO_BUILD_TARGET
cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" -p otp-generate -p otp-verify
TARGET_DIR=$(cargo metadata --manifest-path "$ROOT/Cargo.toml" --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
OUT=/tmp/coldstart/secure2fa
for f in otp-generate otp-verify; do install -D "$TARGET_DIR/release/$f" "$OUT/$f/bootstrap"; done
EVENT="$HARNESS/events/apigw-v2-otp-generate.json"
sed 's#/otp/generate#/otp/verify#g' "$EVENT" > "$OUT/apigw-v2-otp-verify.json"
exec bash "$HARNESS/run.sh" \
  --env TABLE_NAME=secure2fa --env KMS_KEY_ID=alias/secure2fa \
  --env DELIVERY_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/delivery \
  --env WEBHOOK_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/webhook \
  "$@" \
  "generate=$OUT/otp-generate/bootstrap:$EVENT" \
  "verify=$OUT/otp-verify/bootstrap:$OUT/apigw-v2-otp-verify.json"
