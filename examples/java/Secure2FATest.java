// Tests for the Java client, without a framework: the published vectors,
// webhook signatures, and the full flow against a running server whose
// dev-credentials.json is named by SECURE2FA_CREDENTIALS. Exits 1 on failure.
//
//   javac -d /tmp/secure2fa-java examples/java/*.java
//   SECURE2FA_CREDENTIALS=.secure2fa/dev-credentials.json java -cp /tmp/secure2fa-java Secure2FATest examples/test-vectors.json

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.*;
import java.util.concurrent.TimeUnit;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import static java.nio.charset.StandardCharsets.UTF_8;

public final class Secure2FATest {
    interface Check { void run() throws Exception; }

    static Map<?, ?> published;
    static Map<?, ?> creds;
    static Secure2FA client;

    static void check(boolean condition, Object message) {
        if (!condition) throw new AssertionError(String.valueOf(message));
    }

    static void equal(Object expected, Object actual, Object message) {
        if (!Objects.equals(expected, actual)) throw new AssertionError(message + ": expected <" + expected + "> but was <" + actual + ">");
    }

    static <T extends Throwable> T raises(Class<T> type, Check body) throws Exception {
        try {
            body.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) return type.cast(t);
            throw new AssertionError("expected " + type.getSimpleName() + ", got " + t, t);
        }
        throw new AssertionError("expected " + type.getSimpleName() + ", nothing was thrown");
    }

    static List<Map<?, ?>> list(String name) {
        var out = new ArrayList<Map<?, ?>>();
        for (Object item : (List<?>) published.get(name)) out.add((Map<?, ?>) item);
        check(out.size() >= 3, "at least 3 " + name);
        return out;
    }

    static String sign(String secret, long timestamp, byte[] body) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(UTF_8), "HmacSHA256"));
        mac.update((timestamp + ".").getBytes(UTF_8));
        return "t=" + timestamp + ",v1=" + HexFormat.of().formatHex(mac.doFinal(body));
    }

    static String newUser() {
        return "java-" + UUID.randomUUID().toString().substring(0, 8);
    }

    static void payloadVectorsEncryptByteForByteAndDecrypt() throws Exception {
        for (var v : list("vectors")) {
            String plaintext = (String) v.get("plaintext"), secret = (String) v.get("secret_key"), pk = (String) v.get("public_key");
            equal(plaintext, Secure2FA.toJson(Secure2FA.parseJson(plaintext)), v.get("name") + " JSON round trip");
            byte[] nonce = HexFormat.of().parseHex((String) v.get("nonce_hex"));
            equal(v.get("encrypted_data"), Secure2FA.encryptPayload(secret, pk, plaintext, nonce), v.get("name"));
            equal(plaintext, Secure2FA.decryptPayload(secret, pk, (String) v.get("encrypted_data")), v.get("name"));
        }
    }

    static void tamperedPayloadOrWrongPublicKeyIsRefused() throws Exception {
        var v = list("vectors").get(0);
        String secret = (String) v.get("secret_key"), pk = (String) v.get("public_key"), data = (String) v.get("encrypted_data");
        byte[] raw = Base64.getDecoder().decode(data);
        raw[20] ^= 1;
        raises(javax.crypto.AEADBadTagException.class, () -> Secure2FA.decryptPayload(secret, pk, Base64.getEncoder().encodeToString(raw)));
        raises(javax.crypto.AEADBadTagException.class, () -> Secure2FA.decryptPayload(secret, pk + "x", data));
    }

    static void publishedWebhookVectorsVerify() throws Exception {
        for (var v : list("webhook_vectors")) {
            String secret = (String) v.get("secret"), header = (String) v.get("header"), name = (String) v.get("name");
            long timestamp = (Long) v.get("timestamp");
            byte[] body = ((String) v.get("body")).getBytes(UTF_8);
            equal(header, sign(secret, timestamp, body), name);
            long age = Instant.now().getEpochSecond() - timestamp + 60; // the vectors are old
            check(Secure2FA.verifyWebhook(secret, header, body, age), name + " accepted");
            check(!Secure2FA.verifyWebhook(secret, header, body, 300), name + " is stale with the default tolerance");
            check(!Secure2FA.verifyWebhook(secret, header, (v.get("body") + " ").getBytes(UTF_8), age), name + " modified body");
            check(!Secure2FA.verifyWebhook(secret + "x", header, body, age), name + " wrong secret");
        }
    }

    static void freshWebhookIsAcceptedAndTamperingRefused() throws Exception {
        String secret = "whsec_test", json = "{\"type\":\"verification.approved\",\"user_id\":\"é\"}";
        byte[] body = json.getBytes(UTF_8);
        long now = Instant.now().getEpochSecond();
        String header = sign(secret, now, body);
        String wrong = header.substring(0, header.length() - 1) + (header.endsWith("0") ? "1" : "0");
        check(Secure2FA.verifyWebhook(secret, header, body, 300), "fresh signature");
        check(!Secure2FA.verifyWebhook(secret, wrong, body, 300), "wrong signature");
        check(!Secure2FA.verifyWebhook(secret, sign(secret, now - 301, body), body, 300), "stale timestamp");
        check(!Secure2FA.verifyWebhook(secret, header, json.replace("approved", "failed").getBytes(UTF_8), 300), "modified body");
        check(!Secure2FA.verifyWebhook(secret, header.substring(header.indexOf("v1=")), body, 300), "no timestamp");
    }

    static void connect() throws Exception {
        String path = System.getenv("SECURE2FA_CREDENTIALS");
        check(path != null && !path.isEmpty(), "SECURE2FA_CREDENTIALS must name a running server's dev-credentials.json");
        if (client != null) return;
        creds = (Map<?, ?>) Secure2FA.parseJson(Files.readString(Path.of(path)));
        client = new Secure2FA((String) creds.get("base_url"), (String) creds.get("public_key"), (String) creds.get("secret_key"));
    }

    static void exampleGetsApproved() throws Exception {
        connect();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        var process = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), "Example",
                "--credentials", System.getenv("SECURE2FA_CREDENTIALS")).redirectErrorStream(true).start();
        check(process.waitFor(60, TimeUnit.SECONDS), "example timed out");
        String out = new String(process.getInputStream().readAllBytes(), UTF_8);
        equal(0, process.exitValue(), out);
        check(out.contains("status=approved"), out);
    }

    static void wrongCodeThenRightCode() throws Exception {
        connect();
        String user = newUser(), to = user + "@example.com", base = (String) creds.get("base_url");
        equal("pending", client.generate(user, to, null, null).status(), "generate");
        String code = Example.waitForCode(base, to, java.time.Duration.ofSeconds(30));
        var wrong = new StringBuilder();
        for (char c : code.toCharArray()) wrong.append((char) ('0' + (c - '0' + 1) % 10));
        var first = client.verify(user, wrong.toString(), null);
        equal("invalid_code", first.status(), "wrong code");
        equal(4L, first.attemptsLeft(), "attempts left");
        equal("approved", client.verify(user, code, null).status(), "right code");
    }

    static void templateRequestAndRateLimit() throws Exception {
        connect();
        String user = newUser(), to = user + "@example.com";
        var message = client.generateTemplate(user, to, "fr");
        check(message.body().contains(message.code()), message);
        equal("approved", client.verify(user, message.code(), null).status(), "template code");
        client.generate(user, to, null, null);
        var e = raises(Secure2FA.ApiException.class, () -> client.generate(user, to, null, null));
        equal(429, e.status(), e.getMessage());
        check(e.retryAfter().orElse(0L) > 0, "Retry-After " + e.retryAfter());
    }

    static void codeIsBoundToDevice() throws Exception {
        connect();
        String user = newUser(), to = user + "@example.com";
        client.generate(user, to, "en", "iphone-15");
        String code = Example.waitForCode((String) creds.get("base_url"), to, java.time.Duration.ofSeconds(30));
        equal("device_mismatch", client.verify(user, code, "pixel-8").status(), "other device");
        equal("approved", client.verify(user, code, "iphone-15").status(), "same device");
    }

    static void wrongSecretKeyIsRefused() throws Exception {
        connect();
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        var bad = new Secure2FA((String) creds.get("base_url"), (String) creds.get("public_key"), Base64.getEncoder().encodeToString(key));
        var e = raises(Secure2FA.ApiException.class, () -> bad.verify("someone", "123456", null));
        equal(401, e.status(), e.getMessage());
        equal("unauthenticated", e.code(), e.getMessage());
    }

    public static void main(String[] args) throws Exception {
        Path vectors = Path.of(args.length > 0 ? args[0] : "examples/test-vectors.json");
        published = (Map<?, ?>) Secure2FA.parseJson(Files.readString(vectors));
        var tests = new LinkedHashMap<String, Check>();
        tests.put("payload vectors encrypt byte for byte and decrypt", Secure2FATest::payloadVectorsEncryptByteForByteAndDecrypt);
        tests.put("tampered payload or wrong public key is refused", Secure2FATest::tamperedPayloadOrWrongPublicKeyIsRefused);
        tests.put("published webhook vectors verify", Secure2FATest::publishedWebhookVectorsVerify);
        tests.put("fresh webhook is accepted and tampering refused", Secure2FATest::freshWebhookIsAcceptedAndTamperingRefused);
        tests.put("example gets approved", Secure2FATest::exampleGetsApproved);
        tests.put("wrong code then right code", Secure2FATest::wrongCodeThenRightCode);
        tests.put("template request and rate limit", Secure2FATest::templateRequestAndRateLimit);
        tests.put("code is bound to device", Secure2FATest::codeIsBoundToDevice);
        tests.put("wrong secret key is refused", Secure2FATest::wrongSecretKeyIsRefused);
        int failed = 0;
        for (var test : tests.entrySet()) {
            try {
                test.getValue().run();
                System.out.println("ok   " + test.getKey());
            } catch (Throwable t) {
                failed++;
                System.out.println("FAIL " + test.getKey() + ": " + t);
            }
        }
        System.out.println(tests.size() - failed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
