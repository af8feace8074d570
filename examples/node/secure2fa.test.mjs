// Tests for the Node client: the published vectors, webhook signatures, and
// the full flow against a running server whose dev-credentials.json is named
// by SECURE2FA_CREDENTIALS.
//
//   SECURE2FA_CREDENTIALS=.secure2fa/dev-credentials.json node --test examples/node/secure2fa.test.mjs

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it, before } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Secure2FA, Secure2FAError, decryptPayload, encryptPayload, verifyWebhook } from "./secure2fa.mjs";
import { codeFromOutbox, waitForCode } from "./example.mjs";

const published = JSON.parse(readFileSync(new URL("../test-vectors.json", import.meta.url), "utf8"));
const now = () => Math.floor(Date.now() / 1000);
const sign = (secret, t, body) => `t=${t},v1=` + createHmac("sha256", secret).update(`${t}.`).update(body).digest("hex");

describe("payload vectors", () => {
  it("encrypts byte for byte and decrypts back", () => {
    assert.ok(published.vectors.length >= 3);
    for (const v of published.vectors) {
      const payload = JSON.parse(v.plaintext);
      assert.equal(JSON.stringify(payload), v.plaintext, v.name);
      const got = encryptPayload(v.secret_key, v.public_key, payload, Buffer.from(v.nonce_hex, "hex"));
      assert.equal(got, v.encrypted_data, v.name);
      assert.deepEqual(decryptPayload(v.secret_key, v.public_key, v.encrypted_data), payload);
    }
  });

  it("refuses a tampered payload or a wrong public key", () => {
    const v = published.vectors[0];
    const raw = Buffer.from(v.encrypted_data, "base64");
    raw[20] ^= 1;
    assert.throws(() => decryptPayload(v.secret_key, v.public_key, raw.toString("base64")));
    assert.throws(() => decryptPayload(v.secret_key, v.public_key + "x", v.encrypted_data));
  });
});

describe("webhook signatures", () => {
  it("accepts the published vectors", () => {
    assert.ok(published.webhook_vectors.length >= 3);
    for (const v of published.webhook_vectors) {
      const body = Buffer.from(v.body, "utf8");
      assert.equal(sign(v.secret, v.timestamp, body), v.header, v.name);
      const age = now() - v.timestamp; // the vectors are old: a tolerance covering their age accepts them
      assert.equal(verifyWebhook(v.secret, v.header, body, age + 60), true, v.name);
      assert.equal(verifyWebhook(v.secret, v.header, v.body, age + 60), true, v.name);
      assert.equal(verifyWebhook(v.secret, v.header, body), false, v.name);
      assert.equal(verifyWebhook(v.secret, v.header, v.body + " ", age + 60), false, v.name);
      assert.equal(verifyWebhook(v.secret + "x", v.header, body, age + 60), false, v.name);
    }
  });

  it("accepts a fresh signature and refuses tampering", () => {
    const secret = "whsec_test";
    const body = Buffer.from('{"type":"verification.approved","user_id":"é"}');
    const header = sign(secret, now(), body);
    assert.equal(verifyWebhook(secret, header, body, 300), true);
    const wrong = header.slice(0, -1) + (header.endsWith("0") ? "1" : "0");
    assert.equal(verifyWebhook(secret, wrong, body, 300), false);
    assert.equal(verifyWebhook(secret, sign(secret, now() - 301, body), body, 300), false);
    assert.equal(verifyWebhook(secret, header, Buffer.from('{"type":"verification.failed","user_id":"é"}'), 300), false);
    assert.equal(verifyWebhook(secret, "v1=" + header.split("v1=")[1], body, 300), false);
  });
});

describe("against the server", () => {
  let creds, client;
  before(() => {
    const path = process.env.SECURE2FA_CREDENTIALS;
    if (!path) throw new Error("SECURE2FA_CREDENTIALS must name a running server's dev-credentials.json");
    creds = JSON.parse(readFileSync(path, "utf8"));
    client = new Secure2FA(creds.base_url, creds.public_key, creds.secret_key);
  });
  const newUser = () => `node-${randomBytes(4).toString("hex")}`;

  it("runs the example to approved", async () => {
    const script = fileURLToPath(new URL("./example.mjs", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script, "--credentials", process.env.SECURE2FA_CREDENTIALS], { timeout: 60_000 });
    assert.match(stdout, /"status":"approved"/);
  });

  it("refuses a wrong code, then approves the right one", async () => {
    const user = newUser(), to = `${user}@example.com`;
    assert.equal((await client.generate(user, to)).status, "pending");
    const code = await waitForCode(() => codeFromOutbox(creds.base_url, to), 30);
    const wrong = [...code].map((c) => (Number(c) + 1) % 10).join("");
    const first = await client.verify(user, wrong);
    assert.deepEqual([first.status, first.attempts_left], ["invalid_code", 4]);
    assert.equal((await client.verify(user, code)).status, "approved");
  });

  it("decrypts a template request and surfaces Retry-After on 429", async () => {
    const user = newUser(), to = `${user}@example.com`;
    const message = await client.generateTemplate(user, to, "fr");
    assert.ok(message.body.includes(message.code));
    assert.equal((await client.verify(user, message.code)).status, "approved");
    await client.generate(user, to);
    const err = await client.generate(user, to).then(() => null, (e) => e);
    assert.ok(err instanceof Secure2FAError, String(err));
    assert.equal(err.status, 429);
    assert.ok(err.retryAfter > 0);
  });

  it("binds a code to a device", async () => {
    const user = newUser(), to = `${user}@example.com`;
    await client.generate(user, to, "en", "iphone-15");
    const code = await waitForCode(() => codeFromOutbox(creds.base_url, to), 30);
    assert.equal((await client.verify(user, code, "pixel-8")).status, "device_mismatch");
    assert.equal((await client.verify(user, code, "iphone-15")).status, "approved");
  });

  it("is refused with a wrong secret key", async () => {
    const bad = new Secure2FA(creds.base_url, creds.public_key, randomBytes(32).toString("base64"));
    const err = await bad.verify("someone", "123456").then(() => null, (e) => e);
    assert.ok(err instanceof Secure2FAError, String(err));
    assert.deepEqual([err.status, err.code], [401, "unauthenticated"]);
  });
});
