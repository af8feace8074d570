<?php
// Tests for the PHP client, without PHPUnit: the published vectors, webhook
// signatures, and the full flow against a running server whose
// dev-credentials.json is named by SECURE2FA_CREDENTIALS. Exits 1 on failure.
//
//   SECURE2FA_CREDENTIALS=.secure2fa/dev-credentials.json php examples/php/test.php

declare(strict_types=1);

require_once __DIR__ . '/Secure2FA.php';
require_once __DIR__ . '/example.php';

$published = json_decode(file_get_contents(__DIR__ . '/../test-vectors.json'), true, 512, JSON_THROW_ON_ERROR);

function check(bool $condition, string $message): void
{
    if (!$condition) {
        throw new AssertionError($message);
    }
}

function equal(mixed $expected, mixed $actual, string $message): void
{
    check($expected === $actual, "$message: expected " . var_export($expected, true) . ', got ' . var_export($actual, true));
}

function raises(string $class, callable $body): Throwable
{
    try {
        $body();
    } catch (Throwable $e) {
        check($e instanceof $class, "expected $class, got " . get_class($e) . ': ' . $e->getMessage());
        return $e;
    }
    throw new AssertionError("expected $class, nothing was thrown");
}

function sign(string $secret, int $timestamp, string $body): string
{
    return "t=$timestamp,v1=" . hash_hmac('sha256', "$timestamp.$body", $secret);
}

function server(): array
{
    $path = getenv('SECURE2FA_CREDENTIALS');
    check(is_string($path) && $path !== '', "SECURE2FA_CREDENTIALS must name a running server's dev-credentials.json");
    $creds = json_decode(file_get_contents($path), true, 512, JSON_THROW_ON_ERROR);
    return [$creds, new Secure2FA($creds['base_url'], $creds['public_key'], $creds['secret_key'])];
}

function new_user(): string
{
    return 'php-' . bin2hex(random_bytes(4));
}

$tests = [
    'payload vectors encrypt byte for byte and decrypt' => function () use ($published) {
        check(count($published['vectors']) >= 3, 'at least 3 vectors');
        foreach ($published['vectors'] as $v) {
            $payload = json_decode($v['plaintext'], true, 512, JSON_THROW_ON_ERROR);
            $got = Secure2FA::encryptPayload($v['secret_key'], $v['public_key'], $payload, hex2bin($v['nonce_hex']));
            equal($v['encrypted_data'], $got, $v['name']);
            equal($payload, Secure2FA::decryptPayload($v['secret_key'], $v['public_key'], $v['encrypted_data']), $v['name']);
        }
    },
    'tampered payload or wrong public key is refused' => function () use ($published) {
        $v = $published['vectors'][0];
        $raw = base64_decode($v['encrypted_data']);
        $raw[20] = chr(ord($raw[20]) ^ 1);
        raises(UnexpectedValueException::class, fn () => Secure2FA::decryptPayload($v['secret_key'], $v['public_key'], base64_encode($raw)));
        raises(UnexpectedValueException::class, fn () => Secure2FA::decryptPayload($v['secret_key'], $v['public_key'] . 'x', $v['encrypted_data']));
    },
    'published webhook vectors verify' => function () use ($published) {
        check(count($published['webhook_vectors']) >= 3, 'at least 3 webhook vectors');
        foreach ($published['webhook_vectors'] as $v) {
            [$secret, $header, $body, $name] = [$v['secret'], $v['header'], $v['body'], $v['name']];
            equal($header, sign($secret, $v['timestamp'], $body), $name);
            $age = time() - $v['timestamp'] + 60; // the vectors are old
            check(Secure2FA::verifyWebhook($secret, $header, $body, $age), "$name accepted");
            check(!Secure2FA::verifyWebhook($secret, $header, $body), "$name is stale with the default tolerance");
            check(!Secure2FA::verifyWebhook($secret, $header, "$body ", $age), "$name modified body");
            check(!Secure2FA::verifyWebhook("{$secret}x", $header, $body, $age), "$name wrong secret");
        }
    },
    'fresh webhook is accepted and tampering refused' => function () {
        [$secret, $body, $now] = ['whsec_test', '{"type":"verification.approved","user_id":"é"}', time()];
        $header = sign($secret, $now, $body);
        $wrong = substr($header, 0, -1) . (str_ends_with($header, '0') ? '1' : '0');
        check(Secure2FA::verifyWebhook($secret, $header, $body, 300), 'fresh signature');
        check(!Secure2FA::verifyWebhook($secret, $wrong, $body, 300), 'wrong signature');
        check(!Secure2FA::verifyWebhook($secret, sign($secret, $now - 301, $body), $body, 300), 'stale timestamp');
        check(!Secure2FA::verifyWebhook($secret, $header, str_replace('approved', 'failed', $body), 300), 'modified body');
        check(!Secure2FA::verifyWebhook($secret, strstr($header, 'v1='), $body, 300), 'no timestamp');
    },
    'example gets approved' => function () {
        server();
        $command = implode(' ', array_map('escapeshellarg', [PHP_BINARY, __DIR__ . '/example.php', '--credentials', getenv('SECURE2FA_CREDENTIALS')]));
        exec("$command 2>&1", $output, $status);
        equal(0, $status, implode("\n", $output));
        check(str_contains(implode("\n", $output), '"status":"approved"'), implode("\n", $output));
    },
    'wrong code then right code' => function () {
        [$creds, $client] = server();
        $user = new_user();
        $to = "$user@example.com";
        equal('pending', $client->generate($user, $to)['status'], 'generate');
        $code = wait_for_code(fn () => code_from_outbox($creds['base_url'], $to), 30);
        $wrong = implode('', array_map(fn ($c) => (string) (((int) $c + 1) % 10), str_split($code)));
        $first = $client->verify($user, $wrong);
        equal(['invalid_code', 4], [$first['status'], $first['attempts_left']], 'wrong code');
        equal('approved', $client->verify($user, $code)['status'], 'right code');
    },
    'template request and rate limit' => function () {
        [, $client] = server();
        $user = new_user();
        $to = "$user@example.com";
        $message = $client->generateTemplate($user, $to, 'fr');
        check(str_contains($message['body'], $message['code']), json_encode($message));
        equal('approved', $client->verify($user, $message['code'])['status'], 'template code');
        $client->generate($user, $to);
        $e = raises(Secure2FAException::class, fn () => $client->generate($user, $to));
        equal(429, $e->status, $e->getMessage());
        check(($e->retryAfter ?? 0) > 0, 'Retry-After');
    },
    'code is bound to device' => function () {
        [$creds, $client] = server();
        $user = new_user();
        $to = "$user@example.com";
        $client->generate($user, $to, 'en', 'iphone-15');
        $code = wait_for_code(fn () => code_from_outbox($creds['base_url'], $to), 30);
        equal('device_mismatch', $client->verify($user, $code, 'pixel-8')['status'], 'other device');
        equal('approved', $client->verify($user, $code, 'iphone-15')['status'], 'same device');
    },
    'wrong secret key is refused' => function () {
        [$creds] = server();
        $bad = new Secure2FA($creds['base_url'], $creds['public_key'], base64_encode(random_bytes(32)));
        $e = raises(Secure2FAException::class, fn () => $bad->verify('someone', '123456'));
        equal([401, 'unauthenticated'], [$e->status, $e->errorCode], $e->getMessage());
    },
];

$failed = 0;
foreach ($tests as $name => $test) {
    try {
        $test();
        echo "ok   $name\n";
    } catch (Throwable $e) {
        $failed++;
        echo "FAIL $name: ", get_class($e), ': ', $e->getMessage(), "\n";
    }
}
printf("%d passed, %d failed\n", count($tests) - $failed, $failed);
exit($failed === 0 ? 0 : 1);
