// A minimal Secure-2FA client for Java 17 (JDK only: javax.crypto, java.net.http).
//
//   var otp = new Secure2FA(baseUrl, publicKey, secretKey);
//   otp.generate("user-42", "ann@example.com", "en", null);          // code is emailed
//   Secure2FA.Verified res = otp.verify("user-42", "493817", null);   // res.status(): "approved", ...
//   // an HTTP error throws Secure2FA.ApiException: status(), code(), retryAfter() (seconds, on 429)
//   boolean ok = Secure2FA.verifyWebhook(webhookSecret, signatureHeader, rawBody, 300);
//
// Payload: base64(nonce[12] || AES-256-GCM(secret_key, nonce, JSON, aad = public_key) || tag[16]).
// The JDK has no JSON library, so a small reader and writer sit at the end of this file.

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.*;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import static java.nio.charset.StandardCharsets.UTF_8;

public final class Secure2FA {
    private static final int NONCE_LEN = 12;
    private static final SecureRandom RANDOM = new SecureRandom();

    public record Generated(String status, String verificationId, String channel, long expiresAt) {}
    public record Message(String code, String subject, String body, String lang, String verificationId, long expiresAt) {}
    /** status: approved, invalid_code, expired, max_attempts_reached, device_mismatch or not_found. */
    public record Verified(String status, String verificationId, Long attemptsLeft) {}

    /** An HTTP error answer {"error": {"code", "message"}}; retryAfter is set on 429. */
    public static final class ApiException extends IOException {
        private static final long serialVersionUID = 1L;
        private final int status;
        private final String code;
        private final Long retryAfter;

        ApiException(int status, String code, String message, Long retryAfter) {
            super("HTTP " + status + ": " + code + ": " + message);
            this.status = status;
            this.code = code;
            this.retryAfter = retryAfter;
        }
        public int status() { return status; }
        public String code() { return code; }
        public Optional<Long> retryAfter() { return Optional.ofNullable(retryAfter); }
    }

    /** Encrypts a JSON plaintext; a null nonce means a random one (a fixed one is for test vectors only). */
    public static String encryptPayload(String secretKeyB64, String publicKey, String json, byte[] nonce) {
        if (nonce == null) RANDOM.nextBytes(nonce = new byte[NONCE_LEN]);
        byte[] sealed;
        try {
            sealed = gcm(Cipher.ENCRYPT_MODE, secretKeyB64, publicKey, nonce).doFinal(json.getBytes(UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("secret_key must be the base64 of 32 bytes", e);
        }
        byte[] out = Arrays.copyOf(nonce, NONCE_LEN + sealed.length);
        System.arraycopy(sealed, 0, out, NONCE_LEN, sealed.length);
        return Base64.getEncoder().encodeToString(out);
    }

    /** Decrypts a response payload (the template_request answer); throws AEADBadTagException if tampered with. */
    public static String decryptPayload(String secretKeyB64, String publicKey, String encryptedData)
            throws GeneralSecurityException {
        byte[] raw = Base64.getDecoder().decode(encryptedData);
        if (raw.length < NONCE_LEN + 16) throw new GeneralSecurityException("encrypted_data is too short");
        Cipher aes = gcm(Cipher.DECRYPT_MODE, secretKeyB64, publicKey, Arrays.copyOf(raw, NONCE_LEN));
        return new String(aes.doFinal(raw, NONCE_LEN, raw.length - NONCE_LEN), UTF_8);
    }

    private static Cipher gcm(int mode, String secretKeyB64, String publicKey, byte[] nonce) throws GeneralSecurityException {
        Cipher aes = Cipher.getInstance("AES/GCM/NoPadding");
        aes.init(mode, new SecretKeySpec(Base64.getDecoder().decode(secretKeyB64), "AES"), new GCMParameterSpec(128, nonce));
        aes.updateAAD(publicKey.getBytes(UTF_8));
        return aes;
    }

    /** Checks a "Secure2FA-Signature: t=...,v1=..." header on a webhook's raw body. */
    public static boolean verifyWebhook(String signingSecret, String signatureHeader, byte[] body, long toleranceSeconds) {
        var parts = new HashMap<String, String>();
        for (String part : String.valueOf(signatureHeader).split(",")) {
            int eq = part.indexOf('=');
            if (eq >= 0) parts.put(part.substring(0, eq), part.substring(eq + 1));
        }
        long timestamp;
        try {
            timestamp = Long.parseLong(parts.getOrDefault("t", ""));
        } catch (NumberFormatException e) {
            return false;
        }
        if (Math.abs(Instant.now().getEpochSecond() - timestamp) > toleranceSeconds) return false;
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(signingSecret.getBytes(UTF_8), "HmacSHA256"));
            mac.update((timestamp + ".").getBytes(UTF_8));
            byte[] expected = HexFormat.of().formatHex(mac.doFinal(body)).getBytes(UTF_8);
            return MessageDigest.isEqual(expected, parts.getOrDefault("v1", "").getBytes(UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private final String baseUrl, publicKey, secretKey;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    public Secure2FA(String baseUrl, String publicKey, String secretKey) {
        this.baseUrl = baseUrl.replaceAll("/+$", "");
        this.publicKey = publicKey;
        this.secretKey = secretKey;
    }

    private Map<?, ?> post(String path, Map<String, Object> payload) throws IOException, InterruptedException {
        payload.put("iat", Instant.now().getEpochSecond());
        String encrypted = encryptPayload(secretKey, publicKey, toJson(payload), null);
        var request = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(toJson(Map.of("public_key", publicKey, "encrypted_data", encrypted))))
                .build();
        var response = http.send(request, HttpResponse.BodyHandlers.ofString(UTF_8));
        if (response.statusCode() / 100 == 2) return (Map<?, ?>) parseJson(response.body());
        Map<?, ?> error = Map.of();
        try {
            if (parseJson(response.body()) instanceof Map<?, ?> body && body.get("error") instanceof Map<?, ?> e) error = e;
        } catch (IllegalArgumentException notJson) { /* keep the status */ }
        Long retry = response.headers().firstValue("Retry-After").filter(v -> v.matches("\\d+")).map(Long::valueOf).orElse(null);
        throw new ApiException(response.statusCode(), (String) error.get("code"), (String) error.get("message"), retry);
    }

    private static Map<String, Object> request(String userId, String key, String value, String lang, String device) {
        var payload = new LinkedHashMap<String, Object>(Map.of("user_id", userId));
        payload.put(key, value);
        if (lang != null && !lang.isEmpty()) payload.put("lang", lang);
        if (device != null && !device.isEmpty()) payload.put("device", device);
        return payload;
    }

    /** Sends a code to `to`; lang and device may be null. */
    public Generated generate(String userId, String to, String lang, String device) throws IOException, InterruptedException {
        var m = post("/otp/generate", request(userId, "to", to, lang, device));
        return new Generated((String) m.get("status"), (String) m.get("verification_id"), (String) m.get("channel"),
                ((Number) m.get("expires_at")).longValue());
    }

    /** Gets the rendered message and code back instead of having it sent; lang may be null. */
    public Message generateTemplate(String userId, String to, String lang) throws IOException, InterruptedException {
        var payload = request(userId, "to", to, null, null);
        payload.put("template_request", true);
        if (lang != null && !lang.isEmpty()) payload.put("lang", lang);
        var answer = post("/otp/generate", payload);
        Map<?, ?> m;
        try {
            m = (Map<?, ?>) parseJson(decryptPayload(secretKey, publicKey, (String) answer.get("encrypted_data")));
        } catch (GeneralSecurityException e) {
            throw new IOException("the template answer did not decrypt", e);
        }
        return new Message((String) m.get("code"), (String) m.get("subject"), (String) m.get("body"), (String) m.get("lang"),
                (String) m.get("verification_id"), ((Number) m.get("expires_at")).longValue());
    }

    /** Checks a code; device may be null. */
    public Verified verify(String userId, String code, String device) throws IOException, InterruptedException {
        var m = post("/otp/verify", request(userId, "code", code, null, device));
        var left = (Number) m.get("attempts_left");
        return new Verified((String) m.get("status"), (String) m.get("verification_id"), left == null ? null : left.longValue());
    }

    /** Writes maps, strings, numbers, booleans and null as compact JSON (UTF-8 kept, like the other clients). */
    static String toJson(Object v) {
        if (v instanceof Map<?, ?> map) {
            var out = new StringJoiner(",", "{", "}");
            map.forEach((k, value) -> out.add(toJson(String.valueOf(k)) + ":" + toJson(value)));
            return out.toString();
        }
        if (!(v instanceof String s)) return String.valueOf(v);
        var out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> out.append(c < 0x20 ? String.format("\\u%04x", (int) c) : String.valueOf(c));
            }
        }
        return out.append('"').toString();
    }

    /** Reads JSON into LinkedHashMap, ArrayList, String, Long, Double, Boolean and null. */
    static Object parseJson(String text) {
        var reader = new Object() {
            int i;

            Object value() {
                skip();
                if (i >= text.length()) throw fail();
                char c = text.charAt(i);
                if (c == '{' || c == '[') {
                    i++;
                    char close = c == '{' ? '}' : ']';
                    var map = new LinkedHashMap<String, Object>();
                    var list = new ArrayList<Object>();
                    if (!eat(close)) {
                        do {
                            if (c == '[') list.add(value());
                            else {
                                skip();
                                String key = string();
                                if (!eat(':')) throw fail();
                                map.put(key, value());
                            }
                        } while (eat(','));
                        if (!eat(close)) throw fail();
                    }
                    return c == '{' ? map : list;
                }
                if (c == '"') return string();
                for (String word : List.of("true", "false", "null")) {
                    if (text.startsWith(word, i)) {
                        i += word.length();
                        return word.equals("null") ? null : Boolean.valueOf(word);
                    }
                }
                int start = i;
                while (i < text.length() && "+-.eE0123456789".indexOf(text.charAt(i)) >= 0) i++;
                String n = text.substring(start, i);
                if (n.isEmpty()) throw fail();
                return n.matches("-?\\d+") ? (Object) Long.valueOf(n) : (Object) Double.valueOf(n);
            }

            String string() {
                if (!eat('"')) throw fail();
                var out = new StringBuilder();
                for (char c; (c = text.charAt(i++)) != '"'; ) {
                    if (c != '\\') { out.append(c); continue; }
                    char e = text.charAt(i++);
                    switch (e) {
                        case 'u' -> { out.append((char) Integer.parseInt(text.substring(i, i + 4), 16)); i += 4; }
                        case 'b' -> out.append('\b');
                        case 'f' -> out.append('\f');
                        case 'n' -> out.append('\n');
                        case 'r' -> out.append('\r');
                        case 't' -> out.append('\t');
                        default -> out.append(e);
                    }
                }
                return out.toString();
            }

            boolean eat(char c) {
                skip();
                if (i < text.length() && text.charAt(i) == c) { i++; return true; }
                return false;
            }

            void skip() { while (i < text.length() && " \t\r\n".indexOf(text.charAt(i)) >= 0) i++; }

            IllegalArgumentException fail() { return new IllegalArgumentException("invalid JSON at offset " + i); }
        };
        try {
            Object v = reader.value();
            reader.skip();
            if (reader.i != text.length()) throw reader.fail();
            return v;
        } catch (IndexOutOfBoundsException e) {
            throw reader.fail();
        }
    }
}
