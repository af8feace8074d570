<?php
// A minimal Secure-2FA client for PHP 8 (ext-openssl and HTTP streams, no dependency).
//
//   require 'Secure2FA.php';
//   $otp = new Secure2FA($baseUrl, $publicKey, $secretKey);
//   $otp->generate('user-42', 'ann@example.com', 'en');   // code is emailed
//   $otp->verify('user-42', '493817');                      // ['status' => 'approved', ...]
//   // HTTP errors throw Secure2FAException: $e->status, $e->errorCode, $e->retryAfter (seconds, on 429)
//   Secure2FA::verifyWebhook($webhookSecret, $_SERVER['HTTP_SECURE2FA_SIGNATURE'] ?? '', file_get_contents('php://input'), 300);
//
// Payload: base64(nonce[12] || AES-256-GCM(secret_key, nonce, JSON, aad = public_key) || tag[16]).

declare(strict_types=1);

/** An HTTP error answer {"error": {"code", "message"}}. */
final class Secure2FAException extends RuntimeException
{
    public function __construct(
        public readonly int $status,
        public readonly ?string $errorCode,
        ?string $message,
        public readonly ?int $retryAfter = null,
    ) {
        parent::__construct("HTTP $status: $errorCode: $message", $status);
    }
}

final class Secure2FA
{
    private const NONCE_LEN = 12;
    private const TAG_LEN = 16;
    private const JSON_FLAGS = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR;

    public function __construct(
        private string $baseUrl,
        private string $publicKey,
        private string $secretKey,
        private float $timeout = 10.0,
    ) {
        $this->baseUrl = rtrim($baseUrl, '/');
    }

    private static function key(string $secretKeyB64): string
    {
        $key = base64_decode($secretKeyB64, true);
        if ($key === false || strlen($key) !== 32) {
            throw new InvalidArgumentException('secret_key must be the base64 of 32 bytes');
        }
        return $key;
    }

    /** Encrypts a request payload. `$nonce` is for test vectors only. */
    public static function encryptPayload(string $secretKeyB64, string $publicKey, array $payload, ?string $nonce = null): string
    {
        $nonce ??= random_bytes(self::NONCE_LEN);
        $plaintext = json_encode($payload, self::JSON_FLAGS);
        $ciphertext = openssl_encrypt($plaintext, 'aes-256-gcm', self::key($secretKeyB64), OPENSSL_RAW_DATA, $nonce, $tag, $publicKey, self::TAG_LEN);
        return base64_encode($nonce . $ciphertext . $tag);
    }

    /** Decrypts a response payload (the template_request answer); throws if it was tampered with. */
    public static function decryptPayload(string $secretKeyB64, string $publicKey, string $encryptedData): array
    {
        $raw = base64_decode($encryptedData, true);
        if ($raw === false || strlen($raw) < self::NONCE_LEN + self::TAG_LEN) {
            throw new UnexpectedValueException('encrypted_data is not base64 of nonce, ciphertext and tag');
        }
        $ciphertext = substr($raw, self::NONCE_LEN, -self::TAG_LEN);
        $plaintext = openssl_decrypt($ciphertext, 'aes-256-gcm', self::key($secretKeyB64), OPENSSL_RAW_DATA,
            substr($raw, 0, self::NONCE_LEN), substr($raw, -self::TAG_LEN), $publicKey);
        if ($plaintext === false) {
            throw new UnexpectedValueException('encrypted_data does not decrypt: wrong key or tampered with');
        }
        return json_decode($plaintext, true, 512, JSON_THROW_ON_ERROR);
    }

    /** Checks a `Secure2FA-Signature: t=...,v1=...` header on a webhook's raw body. */
    public static function verifyWebhook(string $signingSecret, string $signatureHeader, string $body, int $toleranceSeconds = 300): bool
    {
        $parts = [];
        foreach (explode(',', $signatureHeader) as $part) {
            if (str_contains($part, '=')) {
                [$key, $value] = explode('=', $part, 2);
                $parts[$key] = $value;
            }
        }
        if (!preg_match('/^-?\d+\z/', $parts['t'] ?? '')) {
            return false;
        }
        $timestamp = (int) $parts['t'];
        if (abs(time() - $timestamp) > $toleranceSeconds) {
            return false;
        }
        return hash_equals(hash_hmac('sha256', "$timestamp.$body", $signingSecret), (string) ($parts['v1'] ?? ''));
    }

    private function post(string $path, array $payload): array
    {
        $payload['iat'] = time();
        $encrypted = self::encryptPayload($this->secretKey, $this->publicKey, $payload);
        $context = stream_context_create(['http' => [
            'method' => 'POST',
            'header' => "Content-Type: application/json\r\nConnection: close\r\n",
            'content' => json_encode(['public_key' => $this->publicKey, 'encrypted_data' => $encrypted], self::JSON_FLAGS),
            'protocol_version' => 1.1,
            'timeout' => $this->timeout,
            'ignore_errors' => true, // read 4xx bodies instead of failing
        ]]);
        $answer = @file_get_contents($this->baseUrl . $path, false, $context);
        if ($answer === false) {
            throw new RuntimeException("could not reach {$this->baseUrl}$path: " . (error_get_last()['message'] ?? 'unknown error'));
        }
        $headers = $http_response_header ?? [];
        $status = preg_match('{^HTTP/\S+ (\d{3})}', $headers[0] ?? '', $m) ? (int) $m[1] : 0;
        $json = json_decode($answer, true);
        if ($status >= 200 && $status < 300 && is_array($json)) {
            return $json;
        }
        $retryAfter = null;
        foreach ($headers as $header) {
            if (preg_match('/^Retry-After:\s*(\d+)/i', $header, $m)) {
                $retryAfter = (int) $m[1];
            }
        }
        throw new Secure2FAException($status, $json['error']['code'] ?? null, $json['error']['message'] ?? null, $retryAfter);
    }

    /** Sends a code to `$to`. Returns ['status' => 'pending', 'verification_id', 'channel', 'expires_at']. */
    public function generate(string $userId, string $to, ?string $lang = null, ?string $device = null): array
    {
        return $this->post('/otp/generate', array_filter(
            ['user_id' => $userId, 'to' => $to, 'lang' => $lang, 'device' => $device],
            fn ($v) => $v !== null && $v !== '',
        ));
    }

    /** Gets the rendered message back instead of having it sent: ['code', 'subject', 'body', 'lang', 'verification_id', 'expires_at']. */
    public function generateTemplate(string $userId, string $to, ?string $lang = null): array
    {
        $payload = ['user_id' => $userId, 'to' => $to, 'template_request' => true];
        if ($lang !== null && $lang !== '') {
            $payload['lang'] = $lang;
        }
        $answer = $this->post('/otp/generate', $payload);
        return self::decryptPayload($this->secretKey, $this->publicKey, $answer['encrypted_data']);
    }

    /** Checks a code. Returns ['status' => 'approved' | 'invalid_code' | ..., ...]. */
    public function verify(string $userId, string $code, ?string $device = null): array
    {
        return $this->post('/otp/verify', array_filter(
            ['user_id' => $userId, 'code' => $code, 'device' => $device],
            fn ($v) => $v !== null && $v !== '',
        ));
    }
}
