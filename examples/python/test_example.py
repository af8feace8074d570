"""Tests for the Python client: the published test vectors, and the full
flow against a running server whose dev-credentials.json is named by
SECURE2FA_CREDENTIALS (infra/test-all.sh starts one). Standard unittest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pathlib
import subprocess
import sys
import time
import unittest
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from secure2fa_client import (  # noqa: E402
    Secure2FA, Secure2FAError, decrypt_payload, encrypt_payload, verify_webhook,
)
from example import code_from_outbox, wait_for_code  # noqa: E402

PUBLISHED = json.loads((HERE.parent / "test-vectors.json").read_text(encoding="utf-8"))
VECTORS = PUBLISHED["vectors"]
WEBHOOK_VECTORS = PUBLISHED["webhook_vectors"]


class TestVectors(unittest.TestCase):
    def test_encryption_matches_the_published_vectors(self):
        for v in VECTORS:
            payload = json.loads(v["plaintext"])
            got = encrypt_payload(v["secret_key"], v["public_key"], payload, nonce=bytes.fromhex(v["nonce_hex"]))
            self.assertEqual(got, v["encrypted_data"], v["name"])
            self.assertEqual(decrypt_payload(v["secret_key"], v["public_key"], v["encrypted_data"]), payload)

    def test_wrong_public_key_does_not_decrypt(self):
        v = VECTORS[0]
        with self.assertRaises(Exception):
            decrypt_payload(v["secret_key"], v["public_key"] + "x", v["encrypted_data"])


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class TestWebhookSignature(unittest.TestCase):
    def test_published_webhook_vectors_verify(self):
        self.assertGreaterEqual(len(WEBHOOK_VECTORS), 3)
        for v in WEBHOOK_VECTORS:
            body = v["body"].encode()
            self.assertEqual(sign(v["secret"], v["timestamp"], body), v["header"], v["name"])
            # The vectors are old: accept them with a tolerance that covers their age, not with the default.
            age = int(time.time()) - v["timestamp"]
            self.assertTrue(verify_webhook(v["secret"], v["header"], body, age + 60), v["name"])
            self.assertFalse(verify_webhook(v["secret"], v["header"], body), v["name"])
            self.assertFalse(verify_webhook(v["secret"], v["header"], body + b" ", age + 60), v["name"])
            self.assertFalse(verify_webhook(v["secret"] + "x", v["header"], body, age + 60), v["name"])

    def test_fresh_signature_is_accepted_and_tampering_refused(self):
        secret, body = "whsec_test", '{"type":"verification.approved","user_id":"é"}'.encode()
        now = int(time.time())
        header = sign(secret, now, body)
        self.assertTrue(verify_webhook(secret, header, body, 300))
        wrong = header[:-1] + ("0" if header[-1] != "0" else "1")
        self.assertFalse(verify_webhook(secret, wrong, body, 300))
        self.assertFalse(verify_webhook(secret, sign(secret, now - 301, body), body, 300))
        self.assertFalse(verify_webhook(secret, header, body.replace(b"approved", b"failed"), 300))
        self.assertFalse(verify_webhook(secret, "v1=" + header.split("v1=")[1], body, 300))


class TestAgainstServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.environ.get("SECURE2FA_CREDENTIALS"):
            raise RuntimeError(
                "SECURE2FA_CREDENTIALS must name a running server's dev-credentials.json; "
                "infra/test-all.sh starts a server and sets it"
            )
        cls.creds = json.loads(pathlib.Path(os.environ["SECURE2FA_CREDENTIALS"]).read_text())
        cls.client = Secure2FA(cls.creds["base_url"], cls.creds["public_key"], cls.creds["secret_key"])

    def test_example_script_gets_approved(self):
        out = subprocess.run(
            [sys.executable, str(HERE / "example.py"), "--credentials", os.environ["SECURE2FA_CREDENTIALS"]],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("'status': 'approved'", out.stdout)

    def test_wrong_code_then_right_code(self):
        user = f"py-{uuid.uuid4().hex[:8]}"
        to = f"{user}@example.com"
        self.assertEqual(self.client.generate(user, to)["status"], "pending")
        code = wait_for_code(lambda: code_from_outbox(self.creds["base_url"], to), 30)
        wrong = "".join(str((int(c) + 1) % 10) for c in code)
        first = self.client.verify(user, wrong)
        self.assertEqual((first["status"], first["attempts_left"]), ("invalid_code", 4))
        self.assertEqual(self.client.verify(user, code)["status"], "approved")

    def test_template_request_and_rate_limit(self):
        user = f"py-{uuid.uuid4().hex[:8]}"
        message = self.client.generate_template(user, f"{user}@example.com", lang="fr")
        self.assertIn(message["code"], message["body"])
        self.assertEqual(self.client.verify(user, message["code"])["status"], "approved")
        self.client.generate(user, f"{user}@example.com")
        with self.assertRaises(Secure2FAError) as caught:
            self.client.generate(user, f"{user}@example.com")
        self.assertEqual(caught.exception.status, 429)
        self.assertGreater(caught.exception.retry_after, 0)

    def test_wrong_secret_key_is_refused(self):
        bad = Secure2FA(self.creds["base_url"], self.creds["public_key"], base64.b64encode(os.urandom(32)).decode())
        with self.assertRaises(Secure2FAError) as caught:
            bad.verify("someone", "123456")
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "unauthenticated"))


if __name__ == "__main__":
    unittest.main()
