<?php
// End to end against a running Secure-2FA: send a code, read it from the
// local server's outbox (GET /dev/outbox), verify it.
//
//   php examples/php/example.php --credentials .secure2fa/dev-credentials.json

declare(strict_types=1);

require_once __DIR__ . '/Secure2FA.php';

/** The code in the newest outbox message sent to `$to`, or null. */
function code_from_outbox(string $baseUrl, string $to): ?string
{
    $context = stream_context_create(['http' => ['timeout' => 10]]);
    $messages = json_decode(file_get_contents(rtrim($baseUrl, '/') . '/dev/outbox', false, $context), true, 512, JSON_THROW_ON_ERROR);
    foreach ($messages as $message) { // newest first
        if ($message['to'] === $to) {
            return preg_match('/\d{4,10}/', $message['body'], $m) ? $m[0] : null;
        }
    }
    return null;
}

function wait_for_code(callable $read, float $timeout): string
{
    $deadline = microtime(true) + $timeout;
    while (microtime(true) < $deadline) {
        if (($code = $read()) !== null) {
            return $code;
        }
        usleep(200_000);
    }
    throw new RuntimeException('no code was delivered in time');
}

function main(): int
{
    $options = getopt('', ['credentials:', 'base-url:', 'timeout:', 'user-id:']);
    if (!isset($options['credentials'])) {
        fwrite(STDERR, "usage: php example.php --credentials dev-credentials.json [--base-url URL] [--timeout S] [--user-id ID]\n");
        return 2;
    }
    $creds = json_decode(file_get_contents($options['credentials']), true, 512, JSON_THROW_ON_ERROR);
    $baseUrl = $options['base-url'] ?? $creds['base_url'];
    $client = new Secure2FA($baseUrl, $creds['public_key'], $creds['secret_key']);
    $userId = $options['user-id'] ?? 'example-user-' . bin2hex(random_bytes(4));
    $to = "$userId@example.com";

    echo 'generate: ', json_encode($client->generate($userId, $to)), "\n";
    $code = wait_for_code(fn () => code_from_outbox($baseUrl, $to), (float) ($options['timeout'] ?? 30));
    $result = $client->verify($userId, $code);
    echo 'verify: ', json_encode($result), "\n";
    return $result['status'] === 'approved' ? 0 : 1;
}

if (PHP_SAPI === 'cli' && realpath($_SERVER['SCRIPT_FILENAME']) === __FILE__) {
    exit(main());
}
