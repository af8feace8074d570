// End to end against a running Secure-2FA: send a code, read it from the
// local server's outbox (`GET /dev/outbox`), verify it.
//
//   node examples/node/example.mjs --credentials .secure2fa/dev-credentials.json

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { Secure2FA } from "./secure2fa.mjs";

/** The code in the newest outbox message sent to `to`, or null. */
export async function codeFromOutbox(baseUrl, to) {
  const response = await fetch(baseUrl.replace(/\/+$/, "") + "/dev/outbox", { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET /dev/outbox: HTTP ${response.status}`);
  const message = (await response.json()).find((m) => m.to === to); // newest first
  return message ? message.body.match(/\d{4,10}/)[0] : null;
}

export async function waitForCode(read, timeoutSeconds) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    const code = await read();
    if (code) return code;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("no code was delivered in time");
}

async function main() {
  const { values } = parseArgs({
    options: {
      credentials: { type: "string" },
      "base-url": { type: "string" },
      timeout: { type: "string", default: "30" },
      "user-id": { type: "string" },
    },
  });
  if (!values.credentials) throw new Error("usage: example.mjs --credentials dev-credentials.json [--base-url URL]");
  const creds = JSON.parse(readFileSync(values.credentials, "utf8"));
  const baseUrl = values["base-url"] ?? creds.base_url;
  const client = new Secure2FA(baseUrl, creds.public_key, creds.secret_key);
  const userId = values["user-id"] ?? `example-user-${randomBytes(4).toString("hex")}`;
  const to = `${userId}@example.com`;

  console.log("generate:", JSON.stringify(await client.generate(userId, to)));
  const code = await waitForCode(() => codeFromOutbox(baseUrl, to), Number(values.timeout));
  const result = await client.verify(userId, code);
  console.log("verify:", JSON.stringify(result));
  return result.status === "approved" ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((status) => { process.exitCode = status; }, (err) => { console.error(err.message ?? err); process.exitCode = 1; });
}
