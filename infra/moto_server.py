"""Runs a moto server for tests until its stdin closes.

Usage: python infra/moto_server.py [HOST] [PORT]   (PORT 0: pick a free one)
Prints "HOST:PORT" once listening and warmed up. The parent keeps our stdin
open; when the parent exits (even killed), the pipe closes and this server
stops, so no test run leaves a moto process behind.

Requests are served one at a time: moto's backends are not thread-safe, and
serial handling makes each request atomic, like DynamoDB's conditional writes.

moto loads a service's backend on its first request, which takes seconds on a
busy machine: longer than the SDK's 3 s attempt timeout, so the first tests'
calls timed out and were retried (a retried CreateTable then found its own
table). Every service the tests use is loaded before the address is printed.
"""

import sys
import threading
import urllib.error
import urllib.request

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

# (service, X-Amz-Target or None, path, body): one cheap read per service,
# routed the way the SDK's requests are (by the signing scope's service name).
WARM_UP = [
    ("dynamodb", "DynamoDB_20120810.ListTables", "/", b"{}"),
    ("kms", "TrentService.ListKeys", "/", b"{}"),
    ("sqs", "AmazonSQS.ListQueues", "/", b"{}"),
    ("secretsmanager", "secretsmanager.ListSecrets", "/", b"{}"),
    ("ses", None, "/v2/email/outbound-emails", b"{}"),
]


def warm_up(address):
    for service, target, path, body in WARM_UP:
        headers = {
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/"
            f"{service}/aws4_request, SignedHeaders=host, Signature=0",
            "Content-Type": "application/x-amz-json-1.0",
        }
        if target:
            headers["X-Amz-Target"] = target
        request = urllib.request.Request(f"http://{address}{path}", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                answer.read()
        except urllib.error.HTTPError:
            pass  # a refusal (SES's empty send) comes from the loaded backend too


host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
server = make_server(host, port, DomainDispatcherApplication(create_backend_app), threaded=False,
                     request_handler=MotoRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
address = f"{host}:{server.server_address[1]}"
warm_up(address)
print(address, flush=True)
sys.stdin.read()
server.shutdown()
