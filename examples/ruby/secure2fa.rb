# frozen_string_literal: true

# A minimal Secure-2FA client for Ruby 3 (standard library only: openssl, net/http, json).
#
#   require_relative "secure2fa"
#   otp = Secure2FA::Client.new(base_url, public_key, secret_key)
#   otp.generate("user-42", "ann@example.com", lang: "en")   # code is emailed
#   otp.verify("user-42", "493817")                          # {"status" => "approved", ...}
#   # HTTP errors raise Secure2FA::Error: #status, #code, #retry_after (seconds, on 429)
#   Secure2FA.verify_webhook(webhook_secret, request.get_header("HTTP_SECURE2FA_SIGNATURE"), request.raw_post, 300)
#
# Payload: base64(nonce[12] || AES-256-GCM(secret_key, nonce, JSON, aad = public_key) || tag[16]).

require "base64"
require "json"
require "net/http"
require "openssl"

module Secure2FA
  NONCE_LEN = 12
  TAG_LEN = 16

  # An HTTP error answer {"error": {"code", "message"}}.
  class Error < StandardError
    attr_reader :status, :code, :retry_after

    def initialize(status, body, retry_after = nil)
      error = body.is_a?(Hash) && body["error"].is_a?(Hash) ? body["error"] : {}
      super("HTTP #{status}: #{error['code']}: #{error['message']}")
      @status = status
      @code = error["code"]
      @retry_after = retry_after
    end
  end

  module_function

  # Encrypts a request payload. `nonce` is for test vectors only.
  def encrypt_payload(secret_key_b64, public_key, payload, nonce: OpenSSL::Random.random_bytes(NONCE_LEN))
    cipher = OpenSSL::Cipher.new("aes-256-gcm").encrypt
    cipher.key = Base64.strict_decode64(secret_key_b64)
    cipher.iv = nonce
    cipher.auth_data = public_key.b
    ciphertext = cipher.update(JSON.generate(payload)) + cipher.final
    Base64.strict_encode64(nonce.b + ciphertext + cipher.auth_tag(TAG_LEN))
  end

  # Decrypts a response payload (the template_request answer); raises OpenSSL::Cipher::CipherError if tampered with.
  def decrypt_payload(secret_key_b64, public_key, encrypted_data)
    raw = Base64.strict_decode64(encrypted_data)
    raise ArgumentError, "encrypted_data is too short" if raw.bytesize < NONCE_LEN + TAG_LEN

    cipher = OpenSSL::Cipher.new("aes-256-gcm").decrypt
    cipher.key = Base64.strict_decode64(secret_key_b64)
    cipher.iv = raw.byteslice(0, NONCE_LEN)
    cipher.auth_tag = raw.byteslice(-TAG_LEN, TAG_LEN)
    cipher.auth_data = public_key.b
    plaintext = cipher.update(raw.byteslice(NONCE_LEN...-TAG_LEN)) + cipher.final
    JSON.parse(plaintext.force_encoding(Encoding::UTF_8))
  end

  # Checks a `Secure2FA-Signature: t=...,v1=...` header on a webhook's raw body.
  def verify_webhook(signing_secret, signature_header, body, tolerance_seconds = 300)
    parts = signature_header.to_s.split(",").select { |p| p.include?("=") }.to_h { |p| p.split("=", 2) }
    return false unless parts["t"]&.match?(/\A-?\d+\z/)

    timestamp = Integer(parts["t"], 10)
    return false if (Time.now.to_i - timestamp).abs > tolerance_seconds

    expected = OpenSSL::HMAC.hexdigest("SHA256", signing_secret, "#{timestamp}.".b + body.b)
    OpenSSL.secure_compare(expected, parts.fetch("v1", ""))
  end

  class Client
    def initialize(base_url, public_key, secret_key, timeout: 10)
      @base_url = base_url.chomp("/")
      @public_key = public_key
      @secret_key = secret_key
      @timeout = timeout
    end

    # Sends a code to `to`. Returns {"status" => "pending", "verification_id", "channel", "expires_at"}.
    def generate(user_id, to, lang: nil, device: nil)
      post("/otp/generate", { "user_id" => user_id, "to" => to, "lang" => lang, "device" => device })
    end

    # Gets the rendered message back instead of having it sent: {"code", "subject", "body", "lang", "verification_id", "expires_at"}.
    def generate_template(user_id, to, lang: nil)
      answer = post("/otp/generate", { "user_id" => user_id, "to" => to, "template_request" => true, "lang" => lang })
      Secure2FA.decrypt_payload(@secret_key, @public_key, answer.fetch("encrypted_data"))
    end

    # Checks a code. Returns {"status" => "approved" | "invalid_code" | ..., ...}.
    def verify(user_id, code, device: nil)
      post("/otp/verify", { "user_id" => user_id, "code" => code, "device" => device })
    end

    private

    def post(path, payload)
      payload = payload.reject { |_, v| v.nil? || v == "" }.merge("iat" => Time.now.to_i)
      body = JSON.generate(
        "public_key" => @public_key,
        "encrypted_data" => Secure2FA.encrypt_payload(@secret_key, @public_key, payload),
      )
      uri = URI(@base_url + path)
      response = Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https",
                                                     open_timeout: @timeout, read_timeout: @timeout) do |http|
        http.post(uri.path, body, "Content-Type" => "application/json")
      end
      answer = begin
        JSON.parse(response.body.to_s)
      rescue JSON::ParserError
        {}
      end
      return answer if response.is_a?(Net::HTTPSuccess)

      retry_after = response["Retry-After"]
      raise Error.new(response.code.to_i, answer, retry_after&.match?(/\A\d+\z/) ? retry_after.to_i : nil)
    end
  end
end
