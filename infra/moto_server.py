"""Runs a moto server for tests until its stdin closes.

Usage: python infra/moto_server.py [HOST] [PORT]   (PORT 0: pick a free one)
Prints "HOST:PORT" once listening. The parent keeps our stdin open; when the
parent exits (even killed), the pipe closes and this server stops, so no test
run leaves a moto process behind.

Requests are served one at a time: moto's backends are not thread-safe, and
serial handling makes each request atomic, like DynamoDB's conditional writes.
"""

import sys
import threading

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
server = make_server(host, port, DomainDispatcherApplication(create_backend_app), threaded=False,
                     request_handler=MotoRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(f"{host}:{server.server_address[1]}", flush=True)
sys.stdin.read()
server.shutdown()
