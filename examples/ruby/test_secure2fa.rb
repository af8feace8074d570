# frozen_string_literal: true

# Tests for the Ruby client (minitest, from the standard library): the
# published vectors, webhook signatures, and the full flow against a running
# server whose dev-credentials.json is named by SECURE2FA_CREDENTIALS.
#
#   SECURE2FA_CREDENTIALS=.secure2fa/dev-credentials.json ruby examples/ruby/test_secure2fa.rb

require "minitest/autorun"
require "open3"
require "rbconfig"
require_relative "secure2fa"
require_relative "example"

PUBLISHED = JSON.parse(File.read(File.join(__dir__, "..", "test-vectors.json"), encoding: "UTF-8"))

def sign(secret, timestamp, body)
  "t=#{timestamp},v1=#{OpenSSL::HMAC.hexdigest('SHA256', secret, "#{timestamp}.#{body}")}"
end

class TestVectors < Minitest::Test
  def test_payload_vectors_encrypt_byte_for_byte_and_decrypt
    assert_operator PUBLISHED["vectors"].size, :>=, 3
    PUBLISHED["vectors"].each do |v|
      payload = JSON.parse(v["plaintext"])
      got = Secure2FA.encrypt_payload(v["secret_key"], v["public_key"], payload, nonce: [v["nonce_hex"]].pack("H*"))
      assert_equal v["encrypted_data"], got, v["name"]
      assert_equal payload, Secure2FA.decrypt_payload(v["secret_key"], v["public_key"], v["encrypted_data"])
    end
  end

  def test_tampered_payload_or_wrong_public_key_is_refused
    v = PUBLISHED["vectors"].first
    raw = Base64.strict_decode64(v["encrypted_data"])
    raw.setbyte(20, raw.getbyte(20) ^ 1)
    assert_raises(OpenSSL::Cipher::CipherError) do
      Secure2FA.decrypt_payload(v["secret_key"], v["public_key"], Base64.strict_encode64(raw))
    end
    assert_raises(OpenSSL::Cipher::CipherError) do
      Secure2FA.decrypt_payload(v["secret_key"], "#{v['public_key']}x", v["encrypted_data"])
    end
  end
end

class TestWebhookSignature < Minitest::Test
  def test_published_webhook_vectors_verify
    assert_operator PUBLISHED["webhook_vectors"].size, :>=, 3
    PUBLISHED["webhook_vectors"].each do |v|
      secret, header, body, name = v.values_at("secret", "header", "body", "name")
      assert_equal header, sign(secret, v["timestamp"], body), name
      age = Time.now.to_i - v["timestamp"] + 60 # the vectors are old
      assert Secure2FA.verify_webhook(secret, header, body, age), "#{name} accepted"
      refute Secure2FA.verify_webhook(secret, header, body), "#{name} is stale with the default tolerance"
      refute Secure2FA.verify_webhook(secret, header, "#{body} ", age), "#{name} modified body"
      refute Secure2FA.verify_webhook("#{secret}x", header, body, age), "#{name} wrong secret"
    end
  end

  def test_fresh_webhook_is_accepted_and_tampering_refused
    secret = "whsec_test"
    body = '{"type":"verification.approved","user_id":"é"}'
    now = Time.now.to_i
    header = sign(secret, now, body)
    wrong = header[0...-1] + (header.end_with?("0") ? "1" : "0")
    assert Secure2FA.verify_webhook(secret, header, body, 300), "fresh signature"
    refute Secure2FA.verify_webhook(secret, wrong, body, 300), "wrong signature"
    refute Secure2FA.verify_webhook(secret, sign(secret, now - 301, body), body, 300), "stale timestamp"
    refute Secure2FA.verify_webhook(secret, header, body.sub("approved", "failed"), 300), "modified body"
    refute Secure2FA.verify_webhook(secret, header[header.index("v1=")..], body, 300), "no timestamp"
  end
end

class TestAgainstServer < Minitest::Test
  def setup
    path = ENV.fetch("SECURE2FA_CREDENTIALS", "")
    raise "SECURE2FA_CREDENTIALS must name a running server's dev-credentials.json" if path.empty?

    @creds = JSON.parse(File.read(path))
    @client = Secure2FA::Client.new(@creds["base_url"], @creds["public_key"], @creds["secret_key"])
    @user = "rb-#{SecureRandom.hex(4)}"
    @to = "#{@user}@example.com"
  end

  def wait_for_code
    Example.wait_for_code(30) { Example.code_from_outbox(@creds["base_url"], @to) }
  end

  def test_example_gets_approved
    script = File.join(__dir__, "example.rb")
    out, status = Open3.capture2e(RbConfig.ruby, script, "--credentials", ENV.fetch("SECURE2FA_CREDENTIALS"))
    assert status.success?, out
    assert_includes out, '"status":"approved"'
  end

  def test_wrong_code_then_right_code
    assert_equal "pending", @client.generate(@user, @to)["status"]
    code = wait_for_code
    wrong = code.chars.map { |c| ((c.to_i + 1) % 10).to_s }.join
    first = @client.verify(@user, wrong)
    assert_equal ["invalid_code", 4], [first["status"], first["attempts_left"]]
    assert_equal "approved", @client.verify(@user, code)["status"]
  end

  def test_template_request_and_rate_limit
    message = @client.generate_template(@user, @to, lang: "fr")
    assert_includes message["body"], message["code"]
    assert_equal "approved", @client.verify(@user, message["code"])["status"]
    @client.generate(@user, @to)
    error = assert_raises(Secure2FA::Error) { @client.generate(@user, @to) }
    assert_equal 429, error.status
    assert_operator error.retry_after.to_i, :>, 0
  end

  def test_code_is_bound_to_device
    @client.generate(@user, @to, lang: "en", device: "iphone-15")
    code = wait_for_code
    assert_equal "device_mismatch", @client.verify(@user, code, device: "pixel-8")["status"]
    assert_equal "approved", @client.verify(@user, code, device: "iphone-15")["status"]
  end

  def test_wrong_secret_key_is_refused
    bad = Secure2FA::Client.new(@creds["base_url"], @creds["public_key"], Base64.strict_encode64(SecureRandom.bytes(32)))
    error = assert_raises(Secure2FA::Error) { bad.verify("someone", "123456") }
    assert_equal [401, "unauthenticated"], [error.status, error.code]
  end
end
