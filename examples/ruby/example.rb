# frozen_string_literal: true

# End to end against a running Secure-2FA: send a code, read it from the
# local server's outbox (GET /dev/outbox), verify it.
#
#   ruby examples/ruby/example.rb --credentials .secure2fa/dev-credentials.json

require "json"
require "net/http"
require "optparse"
require "securerandom"
require_relative "secure2fa"

module Example
  module_function

  # The code in the newest outbox message sent to `to`, or nil.
  def code_from_outbox(base_url, to)
    messages = JSON.parse(Net::HTTP.get(URI("#{base_url.chomp('/')}/dev/outbox")))
    message = messages.find { |m| m["to"] == to } # newest first
    message && message["body"][/\d{4,10}/]
  end

  def wait_for_code(timeout)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      code = yield
      return code if code

      sleep 0.2
    end
    raise "no code was delivered in time"
  end

  def main(argv)
    options = { timeout: 30.0 }
    OptionParser.new do |o|
      o.on("--credentials PATH", "JSON with base_url, public_key, secret_key") { |v| options[:credentials] = v }
      o.on("--base-url URL", "override base_url from the credentials file") { |v| options[:base_url] = v }
      o.on("--timeout SECONDS", Float) { |v| options[:timeout] = v }
      o.on("--user-id ID", "end-user id to use (default: a random one)") { |v| options[:user_id] = v }
    end.parse!(argv)
    abort "usage: example.rb --credentials dev-credentials.json" unless options[:credentials]

    creds = JSON.parse(File.read(options[:credentials]))
    base_url = options[:base_url] || creds["base_url"]
    client = Secure2FA::Client.new(base_url, creds["public_key"], creds["secret_key"])
    user_id = options[:user_id] || "example-user-#{SecureRandom.hex(4)}"
    to = "#{user_id}@example.com"

    puts "generate: #{JSON.generate(client.generate(user_id, to))}"
    code = wait_for_code(options[:timeout]) { code_from_outbox(base_url, to) }
    result = client.verify(user_id, code)
    puts "verify: #{JSON.generate(result)}"
    result["status"] == "approved" ? 0 : 1
  end
end

exit Example.main(ARGV) if $PROGRAM_NAME == __FILE__
