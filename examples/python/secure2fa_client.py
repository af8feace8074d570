"""A minimal Secure-2FA client for Python backends.

Only the standard library and the `cryptography` package. Copy this file into
your project, or use it as the reference for a client in another language:
the payload format is AES-256-GCM with the project's 32-byte secret key,
a 12-byte random nonce and the public key as additional authenticated data,
sent as base64(nonce || ciphertext || tag).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Optional

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_LEN = 12


def encrypt_payload(secret_key_b64: str, public_key: str, payload: dict, nonce: Optional[bytes] = None) -> str:
    """Encrypt a request payload. `nonce` is for test vectors only."""
    key = base64.b64decode(secret_key_b64)
    nonce = nonce if nonce is not None else os.urandom(NONCE_LEN)
    plaintext = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, public_key.encode("ascii"))
    return base64.b64encode(nonce + ciphertext).decode("ascii")


def decrypt_payload(secret_key_b64: str, public_key: str, encrypted_data: str) -> dict:
    """Decrypt a response payload (the `template_request` answer)."""
    raw = base64.b64decode(encrypted_data)
    key = base64.b64decode(secret_key_b64)
    plaintext = AESGCM(key).decrypt(raw[:NONCE_LEN], raw[NONCE_LEN:], public_key.encode("ascii"))
    return json.loads(plaintext)


def verify_webhook(signing_secret: str, signature_header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """Check a `Secure2FA-Signature: t=...,v1=...` header on a webhook body."""
    parts = dict(p.split("=", 1) for p in signature_header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(signing_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Secure2FAError(Exception):
    def __init__(self, status: int, body: dict, retry_after: Optional[int] = None):
        error = body.get("error", {})
        super().__init__(f"HTTP {status}: {error.get('code')}: {error.get('message')}")
        self.status = status
        self.code = error.get("code")
        self.retry_after = retry_after


@dataclass
class Secure2FA:
    base_url: str
    public_key: str
    secret_key: str
    timeout: float = 10.0

    def _post(self, path: str, payload: dict) -> dict:
        payload = {**payload, "iat": int(time.time())}
        body = json.dumps({
            "public_key": self.public_key,
            "encrypted_data": encrypt_payload(self.secret_key, self.public_key, payload),
        }).encode()
        req = urllib.request.Request(
            self.base_url.rstrip("/") + path, data=body, method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            retry = e.headers.get("Retry-After")
            raise Secure2FAError(e.code, json.loads(e.read() or b"{}"), int(retry) if retry else None) from None

    def generate(self, user_id: str, to: str, lang: Optional[str] = None, device: Optional[str] = None) -> dict:
        """Send a code to `to`. Returns {"status": "pending", "verification_id", "channel", "expires_at"}."""
        payload: dict[str, Any] = {"user_id": user_id, "to": to}
        if lang:
            payload["lang"] = lang
        if device:
            payload["device"] = device
        return self._post("/otp/generate", payload)

    def generate_template(self, user_id: str, to: str, lang: Optional[str] = None) -> dict:
        """Get the rendered message and code back instead of having it sent."""
        payload: dict[str, Any] = {"user_id": user_id, "to": to, "template_request": True}
        if lang:
            payload["lang"] = lang
        answer = self._post("/otp/generate", payload)
        return decrypt_payload(self.secret_key, self.public_key, answer["encrypted_data"])

    def verify(self, user_id: str, code: str, device: Optional[str] = None) -> dict:
        """Check a code. Returns {"status": "approved" | "invalid_code" | ..., ...}."""
        payload: dict[str, Any] = {"user_id": user_id, "code": code}
        if device:
            payload["device"] = device
        return self._post("/otp/verify", payload)
