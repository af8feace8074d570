// End to end against a running Secure-2FA: send a code, read it from the
// local server's outbox (GET /dev/outbox), verify it.
//
//   javac -d /tmp/secure2fa-java examples/java/*.java
//   java -cp /tmp/secure2fa-java Example --credentials .secure2fa/dev-credentials.json

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;

public final class Example {
    private static final Pattern CODE = Pattern.compile("\\d{4,10}");
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    /** The code in the newest outbox message sent to `to`, or null. */
    static String codeFromOutbox(String baseUrl, String to) throws Exception {
        var request = HttpRequest.newBuilder(URI.create(baseUrl.replaceAll("/+$", "") + "/dev/outbox"))
                .timeout(Duration.ofSeconds(10)).build();
        var messages = (List<?>) Secure2FA.parseJson(HTTP.send(request, HttpResponse.BodyHandlers.ofString()).body());
        for (Object item : messages) { // newest first
            var message = (Map<?, ?>) item;
            if (to.equals(message.get("to"))) {
                var matcher = CODE.matcher((String) message.get("body"));
                return matcher.find() ? matcher.group() : null;
            }
        }
        return null;
    }

    static String waitForCode(String baseUrl, String to, Duration timeout) throws Exception {
        for (long deadline = System.nanoTime() + timeout.toNanos(); System.nanoTime() < deadline; Thread.sleep(200)) {
            String code = codeFromOutbox(baseUrl, to);
            if (code != null) return code;
        }
        throw new IllegalStateException("no code was delivered in time");
    }

    public static void main(String[] args) throws Exception {
        var options = new HashMap<String, String>();
        for (int i = 0; i + 1 < args.length; i += 2) options.put(args[i], args[i + 1]);
        if (!options.containsKey("--credentials")) {
            System.err.println("usage: Example --credentials dev-credentials.json [--base-url URL] [--timeout SECONDS] [--user-id ID]");
            System.exit(2);
        }
        var creds = (Map<?, ?>) Secure2FA.parseJson(Files.readString(Path.of(options.get("--credentials"))));
        String baseUrl = options.getOrDefault("--base-url", (String) creds.get("base_url"));
        var client = new Secure2FA(baseUrl, (String) creds.get("public_key"), (String) creds.get("secret_key"));
        String userId = options.getOrDefault("--user-id", "example-user-" + UUID.randomUUID().toString().substring(0, 8));
        String to = userId + "@example.com";

        System.out.println("generate: " + client.generate(userId, to, null, null));
        String code = waitForCode(baseUrl, to, Duration.ofSeconds(Long.parseLong(options.getOrDefault("--timeout", "30"))));
        Secure2FA.Verified result = client.verify(userId, code, null);
        System.out.println("verify: " + result);
        System.exit("approved".equals(result.status()) ? 0 : 1);
    }
}
