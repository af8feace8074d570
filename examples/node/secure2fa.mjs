// A minimal Secure-2FA client for Node.js 18+ (built-in `crypto` and `fetch`, no dependency).
//
//   import { Secure2FA, Secure2FAError, verifyWebhook } from "./secure2fa.mjs";
//   const otp = new Secure2FA(baseUrl, publicKey, secretKey);
//   await otp.generate("user-42", "ann@example.com", "en");   // code is emailed
//   await otp.verify("user-42", "493817");                     // { status: "approved", ... }
//   // errors throw Secure2FAError { status, code, retryAfter } (retryAfter on 429)
//   verifyWebhook(webhookSecret, req.headers["secure2fa-signature"], rawBody, 300); // true | false
//
// Payload: base64(nonce[12] || AES-256-GCM(secret_key, nonce, JSON, aad = public_key) || tag[16]).

import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const NONCE_LEN = 12;
const TAG_LEN = 16;

/** Encrypts a request payload. `nonce` is for test vectors only. */
export function encryptPayload(secretKeyB64, publicKey, payload, nonce = randomBytes(NONCE_LEN)) {
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(secretKeyB64, "base64"), nonce);
  cipher.setAAD(Buffer.from(publicKey, "ascii"));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(payload), "utf8"), cipher.final()]);
  return Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]).toString("base64");
}

/** Decrypts a response payload (the `template_request` answer); throws if it was tampered with. */
export function decryptPayload(secretKeyB64, publicKey, encryptedData) {
  const raw = Buffer.from(encryptedData, "base64");
  if (raw.length < NONCE_LEN + TAG_LEN) throw new Error("encrypted_data is too short");
  const decipher = createDecipheriv("aes-256-gcm", Buffer.from(secretKeyB64, "base64"), raw.subarray(0, NONCE_LEN));
  decipher.setAAD(Buffer.from(publicKey, "ascii"));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_LEN));
  const plaintext = Buffer.concat([decipher.update(raw.subarray(NONCE_LEN, raw.length - TAG_LEN)), decipher.final()]);
  return JSON.parse(plaintext.toString("utf8"));
}

/** Checks a `Secure2FA-Signature: t=...,v1=...` header on a webhook's raw body (Buffer or string). */
export function verifyWebhook(signingSecret, signatureHeader, body, toleranceSeconds = 300) {
  const parts = new Map();
  for (const part of String(signatureHeader ?? "").split(",")) {
    const i = part.indexOf("=");
    if (i >= 0) parts.set(part.slice(0, i), part.slice(i + 1));
  }
  if (!/^-?\d+$/.test(parts.get("t") ?? "")) return false;
  const timestamp = Number(parts.get("t"));
  if (Math.abs(Date.now() / 1000 - timestamp) > toleranceSeconds) return false;
  const mac = createHmac("sha256", signingSecret).update(`${timestamp}.`).update(Buffer.from(body));
  const expected = Buffer.from(mac.digest("hex"));
  const given = Buffer.from(parts.get("v1") ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class Secure2FAError extends Error {
  constructor(status, body, retryAfter = null) {
    const error = body?.error ?? {};
    super(`HTTP ${status}: ${error.code}: ${error.message}`);
    this.name = "Secure2FAError";
    this.status = status;
    this.code = error.code ?? null;
    this.retryAfter = retryAfter; // seconds, on 429
  }
}

export class Secure2FA {
  constructor(baseUrl, publicKey, secretKey, { timeoutMs = 10_000 } = {}) {
    Object.assign(this, { baseUrl: baseUrl.replace(/\/+$/, ""), publicKey, secretKey, timeoutMs });
  }

  async #post(path, payload) {
    payload = { ...payload, iat: Math.floor(Date.now() / 1000) };
    const response = await fetch(this.baseUrl + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        public_key: this.publicKey,
        encrypted_data: encryptPayload(this.secretKey, this.publicKey, payload),
      }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    if (response.ok) return JSON.parse(text);
    let body = {};
    try { body = JSON.parse(text); } catch { /* not JSON: keep the status */ }
    const retry = response.headers.get("Retry-After");
    throw new Secure2FAError(response.status, body, retry ? Number(retry) : null);
  }

  /** Sends a code to `to`. Resolves to { status: "pending", verification_id, channel, expires_at }. */
  generate(userId, to, lang = null, device = null) {
    const payload = { user_id: userId, to };
    if (lang) payload.lang = lang;
    if (device) payload.device = device;
    return this.#post("/otp/generate", payload);
  }

  /** Gets the rendered message back instead of having it sent: { code, subject, body, lang, verification_id, expires_at }. */
  async generateTemplate(userId, to, lang = null) {
    const payload = { user_id: userId, to, template_request: true };
    if (lang) payload.lang = lang;
    const answer = await this.#post("/otp/generate", payload);
    return decryptPayload(this.secretKey, this.publicKey, answer.encrypted_data);
  }

  /** Checks a code. Resolves to { status: "approved" | "invalid_code" | ..., ... }. */
  verify(userId, code, device = null) {
    const payload = { user_id: userId, code };
    if (device) payload.device = device;
    return this.#post("/otp/verify", payload);
  }
}
