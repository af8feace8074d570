"""End to end against a running Secure-2FA: send a code, read it from where
the service delivered it, verify it.

    python examples/python/example.py --credentials .secure2fa/dev-credentials.json

Locally the code is read from the outbox (`GET /dev/outbox`). Against
`sam local start-api` with moto, pass `--moto-url` to read it from moto's
record of the emails SES sent.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.request
import uuid

from secure2fa_client import Secure2FA


def fetch_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def code_from_outbox(base_url: str, to: str) -> str | None:
    for message in fetch_json(base_url.rstrip("/") + "/dev/outbox"):
        if message["to"] == to:
            return re.search(r"\d{4,10}", message["body"]).group(0)
    return None


def code_from_moto(moto_url: str, to: str) -> str | None:
    data = fetch_json(moto_url.rstrip("/") + "/moto-api/data.json")
    for message in reversed(data.get("ses", {}).get("Message", [])):
        destinations = message.get("destinations", {})
        if to in destinations.get("ToAddresses", []) or to in str(destinations):
            return re.search(r"\d{4,10}", message.get("body", "")).group(0)
    return None


def wait_for_code(read, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = read()
        if code:
            return code
        time.sleep(0.2)
    raise SystemExit("no code was delivered in time")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--credentials", required=True, help="JSON with base_url, public_key, secret_key")
    parser.add_argument("--base-url", help="override base_url from the credentials file")
    parser.add_argument("--moto-url", help="read the code from moto's SES store instead of the outbox")
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--user-id", help="end-user id to use (default: a random one)")
    args = parser.parse_args()

    creds = json.load(open(args.credentials))
    base_url = args.base_url or creds["base_url"]
    client = Secure2FA(base_url, creds["public_key"], creds["secret_key"])
    user_id = args.user_id or f"example-user-{uuid.uuid4().hex[:8]}"
    to = f"{user_id}@example.com"

    sent = client.generate(user_id, to)
    print("generate:", sent)
    if args.moto_url:
        code = wait_for_code(lambda: code_from_moto(args.moto_url, to), args.timeout)
    else:
        code = wait_for_code(lambda: code_from_outbox(base_url, to), args.timeout)
    result = client.verify(user_id, code)
    print("verify:", result)
    return 0 if result["status"] == "approved" else 1


if __name__ == "__main__":
    sys.exit(main())
