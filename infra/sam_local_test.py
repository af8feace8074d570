"""`sam local` tests: the built functions in Lambda containers against moto.

Run by infra/test-all.sh after `sam build` (x86_64). Steps:
  1. start moto on the Docker bridge's host address; create the table, queues
     (with their dead-letter queues), KMS key, secrets and SES identity from
     the definitions in template.yaml itself;
  2. `sam local invoke` every function with its file in events/ (OTP events
     re-encrypted for a live project with a fresh iat, SQS events both as
     committed and carrying live messages) and check each response;
  3. `sam local start-api` end to end, driven by examples/python/example.py,
     with the delivery worker fed from moto's delivery queue and the code
     read back from moto's SES store;
  4. scan the table: no code, address, end-user id or secret in clear.
Fails loudly on the first broken expectation.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import hashlib
import hmac

import boto3
from samcli.yamlhelper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples/python"))
from secure2fa_client import decrypt_payload, encrypt_payload, verify_webhook  # noqa: E402

VENV_BIN = pathlib.Path(sys.executable).parent
BUILT_TEMPLATE = ROOT / ".aws-sam/build/template.yaml"
FIXTURE = json.loads((ROOT / "events/fixture.json").read_text())
REGION = "us-east-1"


def log(msg: str) -> None:
    print(f"[sam-local] {msg}", flush=True)


def bridge_ip() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=True).stdout
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)", out).group(1)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, host: str):
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "infra/moto_server.py"), host, "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        addr = self.proc.stdout.readline().strip()
        if ":" not in addr:
            raise SystemExit("moto did not start")
        self.url = f"http://{addr}"
        self.port = int(addr.rsplit(":", 1)[1])

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id="test", aws_secret_access_key="test")

    def sent_emails(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json") as r:
            return json.loads(r.read()).get("ses", {}).get("Message", [])

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def provision(moto: Moto) -> dict:
    """Creates what template.yaml declares, as moto resources; returns env vars."""
    template = yaml_parse((ROOT / "template.yaml").read_text())
    res, params = template["Resources"], template["Parameters"]
    ddb = moto.client("dynamodb")
    t = res["Table"]["Properties"]
    table = f"secure2fa-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=table, BillingMode=t["BillingMode"], AttributeDefinitions=t["AttributeDefinitions"],
                     KeySchema=t["KeySchema"], GlobalSecondaryIndexes=t["GlobalSecondaryIndexes"])
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=t["TimeToLiveSpecification"])

    sqs = moto.client("sqs")
    urls = {}
    for name in ["DeliveryDeadLetterQueue", "WebhookDeadLetterQueue", "DeliveryQueue", "WebhookQueue"]:
        p = res[name]["Properties"]
        attrs = {"VisibilityTimeout": str(p.get("VisibilityTimeout", 30)), "MessageRetentionPeriod": str(p["MessageRetentionPeriod"])}
        if "RedrivePolicy" in p:
            dlq = p["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=urls[dlq], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(params["MaxReceiveCount"]["Default"])})
        urls[name] = sqs.create_queue(QueueName=f"{name}-{uuid.uuid4().hex[:6]}", Attributes=attrs)["QueueUrl"]

    key = moto.client("kms").create_key(Description=res["KmsKey"]["Properties"]["Description"])["KeyMetadata"]["Arn"]
    sm = moto.client("secretsmanager")
    deployment = sm.create_secret(Name=f"deployment-{uuid.uuid4().hex[:6]}", SecretString=json.dumps({"master": uuid.uuid4().hex * 2}))["ARN"]
    operator = sm.create_secret(Name=f"operator-{uuid.uuid4().hex[:6]}", SecretString=json.dumps({"operator_token": FIXTURE["operator_token"]}))["ARN"]
    moto.client("sesv2").create_email_identity(EmailIdentity="example.com")
    return {
        "TABLE_NAME": table, "KMS_KEY_ID": key,
        "DELIVERY_QUEUE_URL": urls["DeliveryQueue"], "WEBHOOK_QUEUE_URL": urls["WebhookQueue"],
        "DEPLOYMENT_SECRET_ID": deployment, "OPERATOR_TOKEN_SECRET_ID": operator,
        "SES_FROM_ADDRESS": "otp@example.com", "ALLOW_HTTP_WEBHOOKS": "true", "IP_LIMIT_PER_MINUTE": "0",
        # The test's webhook receiver listens on the Docker bridge, a private address.
        "ALLOW_PRIVATE_WEBHOOKS": "true",
        "RUST_LOG": "info",
    }


class Sam:
    def __init__(self, moto: Moto, env_vars: dict, workdir: pathlib.Path):
        self.env_file = workdir / "env.json"
        # sam local does not resolve the template's !If for AWS_ENDPOINT_URL,
        # and the Rust SDK refuses an empty endpoint: set it here too.
        env_vars = {**env_vars, "AWS_ENDPOINT_URL": f"http://host.docker.internal:{moto.port}"}
        # The worker's status callback URL: the HttpApi's URL, as the template's
        # !Sub makes it. The management function has none (no custom domain)
        # and checks receipts against the URL of the request, as on AWS.
        self.env_file.write_text(json.dumps({
            "Parameters": env_vars,
            "DeliveryWorkerFunction": {"PUBLIC_URL": f"https://{API_HOST}"},
        }))
        self.workdir = workdir
        self.common = [
            "--template", str(BUILT_TEMPLATE), "--skip-pull-image",
            "--add-host", "host.docker.internal:host-gateway",
            "--env-vars", str(self.env_file),
            "--parameter-overrides", f"Architecture=x86_64 EmulatorEndpoint=http://host.docker.internal:{moto.port}",
        ]
        self.env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0",
                    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"}

    def invoke(self, function: str, event: dict) -> dict:
        path = self.workdir / f"event-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(event))
        out = subprocess.run(["sam", "local", "invoke", function, "--event", str(path), *self.common],
                             capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=180)
        lines = [l for l in out.stdout.strip().splitlines() if l.startswith("{")]
        if out.returncode != 0 or not lines:
            raise SystemExit(f"sam local invoke {function} failed ({out.returncode}):\n{out.stdout}\n{out.stderr[-4000:]}")
        for line in out.stderr.splitlines():
            if any(s in line for s in ['"level":"ERROR"', "panicked"]):
                log(f"{function}: {line}")
        return json.loads(lines[-1])

    def http(self, function: str, event: dict) -> tuple[int, dict]:
        resp = self.invoke(function, event)
        body = resp.get("body") or "null"
        if resp.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return resp["statusCode"], json.loads(body)


def event(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def refreshed(name: str, keys: dict, **changes) -> dict:
    """A committed OTP event re-encrypted for a live project with a fresh iat."""
    ev = event(name)
    body = json.loads(ev["body"])
    plain = decrypt_payload(FIXTURE["secret_key"], FIXTURE["public_key"], body["encrypted_data"])
    plain.update(changes, iat=int(time.time()))
    ev["body"] = json.dumps({"public_key": keys["public_key"],
                             "encrypted_data": encrypt_payload(keys["secret_key"], keys["public_key"], plain)})
    return ev


def management_event(method: str, path: str, body: dict | None = None) -> dict:
    ev = event("management-list-clients.json")
    ev["routeKey"] = ev["requestContext"]["routeKey"] = f"{method} {path}"
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = path
    ev["requestContext"]["http"]["method"] = method
    if body is not None:
        ev["body"] = json.dumps(body)
    return ev


def sqs_event(name: str, message: dict) -> dict:
    ev = event(name)
    rec = ev["Records"][0]
    rec.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"])
    rec["attributes"]["ApproximateReceiveCount"] = message["Attributes"]["ApproximateReceiveCount"]
    return ev


def receive(moto: Moto, url: str, wait: float = 10) -> list[dict]:
    sqs = moto.client("sqs")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if msgs:
            return msgs
        time.sleep(0.2)
    return []


def code_for(moto: Moto, to: str) -> str:
    for m in reversed(moto.sent_emails()):
        if to in json.dumps(m.get("destinations", {})):
            return re.search(r"\d{4,10}", m["body"]).group(0)
    raise SystemExit(f"no email to {to} in moto")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Pages over plain HTTP with a cookie jar of our own: the session and
    form cookies are `__Host-` and Secure, which a client's jar would keep
    off this http:// address."""

    def __init__(self, base: str):
        self.base = base
        self.cookies: dict[str, str] = {}
        self.opener = urllib.request.build_opener(NoRedirect)

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        data = None
        if form is not None:
            data = urllib.parse.urlencode({"csrf": self.cookies.get("__Host-s2fa_csrf", ""), **form}).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            resp = self.opener.open(req, timeout=120)
        except urllib.error.HTTPError as e:
            resp = e
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return resp.status, dict(resp.headers), resp.read().decode()


def dashboard_first_steps(base: str, moto: Moto) -> None:
    """Sign-up, confirmation from the mail SES sent, password, TOTP
    enrolment and the projects page, through API Gateway's routes to the
    management function."""
    import pyotp

    b = Browser(base)
    email = f"dash-{uuid.uuid4().hex[:8]}@example.com"
    status, headers, _ = b.request("GET", "/signup")
    expect(status == 200 and "__Host-s2fa_csrf" in b.cookies and "unsafe-inline" not in headers.get("content-security-policy", "x unsafe-inline"),
           "start-api: the sign-up page, with its form cookie and a CSP without unsafe-inline")
    hsts = headers.get("strict-transport-security", "")
    expect(hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 31536000,
           f"start-api: the management function's pages ask for HTTPS for a year (HSTS: {hsts!r}), API Gateway serving https only")
    status, _, page = b.request("POST", "/signup", {"email": email})
    expect(status == 200 and "Check your mail" in page, "start-api: sign-up from the page")
    token = None
    for _ in range(50):
        for m in moto.sent_emails():
            found = re.search(r"/confirm\?token=([A-Za-z0-9_-]+)", m.get("body", ""))
            if email in json.dumps(m.get("destinations", {})) and found:
                token = found.group(1)
        if token:
            break
        time.sleep(0.2)
    expect(token is not None, "start-api: the confirmation mail went through SES with the page's link")
    status, _, page = b.request("GET", f"/confirm?token={token}")
    expect(status == 200 and "Choose your password" in page, "start-api: the mailed link's page")
    password = "correct horse battery staple 42"
    status, headers, _ = b.request("POST", "/confirm", {"token": token, "password": password, "confirm": password})
    expect(status == 303 and headers.get("Location") == "/login?confirmed=1", f"start-api: password set ({status})")
    status, headers, _ = b.request("POST", "/login", {"email": email, "password": password, "next": "/"})
    expect(status == 303 and headers.get("Location") == "/account/authenticator" and "__Host-s2fa_session" in b.cookies,
           "start-api: signed in with the password, sent to link an authenticator")
    status, _, page = b.request("POST", "/account/authenticator", {})
    secret = re.search(r'id="totp-secret" class="secret">([A-Z2-7]+)<', page)
    expect(status == 200 and secret is not None, "start-api: the enrolment page shows the TOTP secret")
    status, _, page = b.request("POST", "/account/authenticator/confirm", {"code": pyotp.TOTP(secret.group(1)).now()})
    expect(status == 200 and page.count("<li><code>") == 10, "start-api: TOTP confirmed, ten backup codes shown")
    status, _, page = b.request("GET", "/projects")
    expect(status == 200 and "<h1>Projects</h1>" in page and email in page, "start-api: the projects page, signed in")
    status, headers, _ = Browser(base).request("GET", "/projects")
    expect(status == 303 and headers.get("Location") == "/login?next=%2Fprojects", "start-api: signed out, the page sends to sign-in")


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    log(f"ok: {what}")


# The host of the API in the committed events (requestContext.domainName).
API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"


def twilio_receipt_event(callback: str, fields: dict, token: str) -> dict:
    """Twilio's status callback for an SMS, as API Gateway hands it to the
    receipts function: form-encoded, signed as Twilio documents (HMAC-SHA1
    of the URL followed by each field name and value, sorted by name)."""
    signed = callback + "".join(k + v for k, v in sorted(fields.items()))
    signature = base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    url = urllib.parse.urlsplit(callback)
    ev = management_event("POST", url.path)
    ev["routeKey"] = ev["requestContext"]["routeKey"] = "POST /receipts/{proxy+}"
    ev["rawQueryString"] = url.query
    ev["queryStringParameters"] = dict(urllib.parse.parse_qsl(url.query))
    ev["headers"] = {"host": url.netloc, "content-type": "application/x-www-form-urlencoded",
                     "user-agent": "TwilioProxy/1.1", "x-twilio-signature": signature}
    ev["body"] = urllib.parse.urlencode(fields)
    return ev


class TwilioMock(BaseHTTPRequestHandler):
    """Twilio's Messages resource as documented: form-encoded, basic auth, 201 with the sid."""
    seen: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        TwilioMock.seen.append((self.path, dict(self.headers), body))
        answer = json.dumps({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_):
        pass


class Receiver(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.seen.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_):
        pass


def main() -> int:
    host = bridge_ip()
    moto = Moto(host)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="sam-local-"))
    receiver = ThreadingHTTPServer((host, 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    twilio = ThreadingHTTPServer((host, 0), TwilioMock)
    threading.Thread(target=twilio.serve_forever, daemon=True).start()
    api = None
    try:
        env_vars = provision(moto)
        # The deployment override (TwilioApiUrl) pointing the delivery worker at the mock.
        env_vars["TWILIO_API_URL"] = f"http://host.docker.internal:{twilio.server_address[1]}/twilio"
        sam = Sam(moto, env_vars, workdir)
        M = "ManagementApiFunction"

        # Management: every committed event, then a project set up through it.
        status, body = sam.http(M, event("management-openapi.json"))
        expect(status == 200 and body["openapi"] == "3.1.0", "management-openapi.json -> 200 OpenAPI document")
        status, body = sam.http(M, event("management-create-client.json"))
        expect(status == 201 and body["is_admin"] is True, "management-create-client.json -> 201, first client is admin")
        client_id = body["id"]
        status, body = sam.http(M, event("management-list-clients.json"))
        expect(status == 200 and body["clients"][0]["email"] == "dev@example.com", "management-list-clients.json -> 200")
        base = f"/v1/clients/{client_id}"
        _, channel = sam.http(M, management_event("POST", f"{base}/channels", {"title": "SES", "method": "email", "provider": "ses", "credentials": {"from": "otp@example.com"}}))
        _, template = sam.http(M, management_event("POST", f"{base}/templates", {"title": "Login", "default_lang": "en", "versions": {"en": {"subject": "Your code", "body": "Your code is {{ OTP_CODE }}"}}}))
        hook = f"http://host.docker.internal:{receiver.server_address[1]}/hook"
        status, project = sam.http(M, management_event("POST", f"{base}/projects", {"title": "Shop", "channel_id": channel["id"], "template_id": template["id"], "webhook_url": hook,
             # Ten digits: a six-digit code could match digits of a timestamp in the final dump check.
             "code_length": 10}))
        expect(status == 201 and "secret_key" in project, "project created through the management function")

        # OTP generate: committed event (fixture project, unknown here), then live.
        status, body = sam.http("OtpGenerateFunction", event("otp-generate.json"))
        expect(status == 401 and body["error"]["code"] == "unauthenticated", "otp-generate.json as committed -> 401")
        status, body = sam.http("OtpGenerateFunction", refreshed("otp-generate.json", project))
        expect(status == 202 and body["status"] == "pending", "otp-generate.json for a live project -> 202 pending")

        # Delivery worker: committed event (no such project: dropped), then the live message.
        resp = sam.invoke("DeliveryWorkerFunction", event("delivery-worker.json"))
        expect(resp == {"batchItemFailures": []}, "delivery-worker.json as committed -> dropped, no failures")
        msgs = receive(moto, env_vars["DELIVERY_QUEUE_URL"])
        expect(len(msgs) == 1, "one delivery job queued")
        resp = sam.invoke("DeliveryWorkerFunction", sqs_event("delivery-worker.json", msgs[0]))
        expect(resp == {"batchItemFailures": []}, "delivery-worker.json with the live job -> delivered")
        code = code_for(moto, "ann@example.com")

        # OTP verify with the delivered code.
        status, body = sam.http("OtpVerifyFunction", refreshed("otp-verify.json", project, code=code))
        expect(status == 200 and body["status"] == "approved", "otp-verify.json with the code -> approved")

        # Webhook worker: committed event dropped, live event posted and signed.
        resp = sam.invoke("WebhookWorkerFunction", event("webhook-worker.json"))
        expect(resp == {"batchItemFailures": []}, "webhook-worker.json as committed -> dropped, no failures")
        msgs = receive(moto, env_vars["WEBHOOK_QUEUE_URL"])
        expect(len(msgs) == 1, "one webhook event queued")
        resp = sam.invoke("WebhookWorkerFunction", sqs_event("webhook-worker.json", msgs[0]))
        expect(resp == {"batchItemFailures": []}, "webhook-worker.json with the live event -> posted")
        headers, raw = Receiver.seen[-1]
        sig = {k.lower(): v for k, v in headers.items()}["secure2fa-signature"]
        expect(verify_webhook(project["webhook_secret"], sig, raw) and json.loads(raw)["type"] == "verification.approved",
               "webhook receiver got verification.approved with a valid signature")

        # An SMS channel on Twilio: the delivery worker reaches the mock through
        # the deployment override and stores Twilio's message id.
        account = "AC0123456789abcdef0123456789abcdef"
        status, sms_channel = sam.http(M, management_event("POST", f"{base}/channels", {"title": "SMS", "method": "sms", "provider": "twilio",
            "credentials": {"account_sid": account, "auth_token": "f00dfacef00dfacef00dfacef00dface", "from": "+14155550100"}}))
        expect(status == 201, "a Twilio channel created with validated credentials")
        _, sms_template = sam.http(M, management_event("POST", f"{base}/templates", {"title": "SMS", "default_lang": "en", "versions": {"en": {"subject": "", "body": "Your code is {{ OTP_CODE }}"}}}))
        status, sms_project = sam.http(M, management_event("POST", f"{base}/projects", {"title": "SMS", "channel_id": sms_channel["id"], "template_id": sms_template["id"], "code_length": 10}))
        expect(status == 201, "an SMS project on the Twilio channel")
        phone = "+14155552671"
        status, body = sam.http("OtpGenerateFunction", refreshed("otp-generate.json", sms_project, user_id="sms-user", to=phone))
        expect(status == 202 and body["channel"] == "sms", "generate for a phone number -> 202 sms")
        msgs = receive(moto, env_vars["DELIVERY_QUEUE_URL"])
        resp = sam.invoke("DeliveryWorkerFunction", sqs_event("delivery-worker.json", msgs[0]))
        expect(resp == {"batchItemFailures": []}, "the SMS delivery job -> sent")
        path, headers, form = TwilioMock.seen[-1]
        fields = dict(urllib.parse.parse_qsl(form.decode()))
        auth = base64.b64decode({k.lower(): v for k, v in headers.items()}["authorization"].split(" ", 1)[1]).decode()
        expect(path == f"/twilio/2010-04-01/Accounts/{account}/Messages.json" and fields["To"] == phone
               and fields["From"] == "+14155550100" and re.search(r"\d{10}", fields["Body"]) and auth.startswith(account + ":"),
               "Twilio mock got the documented request (path, basic auth, To, From, Body)")
        sms_code = re.search(r"\d{10}", fields["Body"]).group(0)
        callback = fields.get("StatusCallback", "")
        expect(callback.startswith(f"https://{API_HOST}/receipts/twilio/{client_id}/{sms_channel['id']}?ref="),
               "the SMS asks Twilio for status callbacks to the stack's receipts endpoint")
        token = "f00dfacef00dfacef00dfacef00dface"
        receipt = {"MessageSid": "SM0123456789abcdef0123456789abcdef", "MessageStatus": "delivered",
                   "AccountSid": account, "ApiVersion": "2010-04-01"}
        forged = twilio_receipt_event(callback, receipt, "0" * 32)
        status, _ = sam.http("ReceiptsFunction", forged)
        expect(status == 401, "a receipt signed with another token -> 401")
        status, body = sam.http("ReceiptsFunction", twilio_receipt_event(callback, receipt, token))
        expect(status == 200 and body == {"recorded": 1, "ignored": 0}, f"a signed Twilio receipt -> recorded ({body})")
        items = moto.client("dynamodb").scan(TableName=env_vars["TABLE_NAME"])["Items"]
        states = [i["receipt_status"]["S"] for i in items if "receipt_status" in i]
        expect(states == ["delivered"], f"the SMS's verification holds its delivered receipt ({states})")
        items = moto.client("dynamodb").scan(TableName=env_vars["TABLE_NAME"])["Items"]
        ids = [i["provider_message_id"]["S"] for i in items if "provider_message_id" in i]
        # (The email verification above holds SES's message id.)
        expect("SM0123456789abcdef0123456789abcdef" in ids and len(ids) == 2, f"Twilio's message id stored on the verification ({len(ids)} ids)")
        status, body = sam.http("OtpVerifyFunction", refreshed("otp-verify.json", sms_project, user_id="sms-user", code=sms_code))
        expect(status == 200 and body["status"] == "approved", "the SMS code verifies")

        # start-api, end to end with the Python example; a pump plays the SQS trigger.
        port = free_port("127.0.0.1")
        api = subprocess.Popen(["sam", "local", "start-api", "--host", "127.0.0.1", "--port", str(port),
                                "--warm-containers", "LAZY", *sam.common],
                               stdout=subprocess.DEVNULL, stderr=open(workdir / "start-api.log", "w"), env=sam.env, cwd=ROOT)
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        stop = threading.Event()

        def pump():
            while not stop.is_set():
                for m in receive(moto, env_vars["DELIVERY_QUEUE_URL"], wait=1):
                    sam.invoke("DeliveryWorkerFunction", sqs_event("delivery-worker.json", m))

        pumper = threading.Thread(target=pump, daemon=True)
        pumper.start()
        creds = workdir / "creds.json"
        creds.write_text(json.dumps({"base_url": f"http://127.0.0.1:{port}", "public_key": project["public_key"], "secret_key": project["secret_key"]}))
        user = f"start-api-user-{uuid.uuid4().hex[:8]}"
        out = subprocess.run([sys.executable, str(ROOT / "examples/python/example.py"), "--credentials", str(creds),
                              "--moto-url", moto.url, "--timeout", "120", "--user-id", user],
                             capture_output=True, text=True, timeout=300)
        stop.set()
        pumper.join(timeout=60)
        print(out.stdout)
        expect(out.returncode == 0 and "'status': 'approved'" in out.stdout,
               "start-api: the Python example generated, received by SES and verified a code")
        dashboard_first_steps(f"http://127.0.0.1:{port}", moto)

        # Nothing sensitive in clear in the table.
        items = moto.client("dynamodb").scan(TableName=env_vars["TABLE_NAME"])["Items"]
        dump = json.dumps(items, default=lambda o: o.decode("latin-1") if isinstance(o, bytes) else str(o))
        blobs = b"".join(v["B"] for i in items for v in i.values() if "B" in v)
        secrets = {
            "OTP code": code, "recipient address": "ann@example.com", "end-user id": "user-42",
            "start-api end-user id": user, "start-api recipient": f"{user}@example.com",
            "project secret key": project["secret_key"], "webhook secret": project["webhook_secret"],
            "client email": "dev@example.com", "webhook URL": hook, "phone number": phone,
            "phone number digits": phone[1:], "SMS code": sms_code, "Twilio auth token": "f00dfacef00dfacef00dfacef00dface",
        }
        for label, value in secrets.items():
            expect(value not in dump and value.encode() not in blobs, f"table dump holds no {label} in clear")
        # Every key as raw bytes too (and hex): the project's payload key and
        # each data key, unwrapped through KMS with the item's own context.
        raw_keys = {"project secret key": base64.b64decode(project["secret_key"])}
        kms = moto.client("kms")
        for item in items:
            if "data_key" not in item:
                continue
            ident = item["pk"]["S"].split("#", 1)[1]
            entity = "project" if item["pk"]["S"].startswith("PROJECT#") else "client"
            plain = kms.decrypt(CiphertextBlob=item["data_key"]["B"],
                                EncryptionContext={"entity": entity, "id": ident})["Plaintext"]
            raw_keys[f"data key of {entity} {ident}"] = plain
        expect(len(raw_keys) >= 3, f"the data keys of the client and project were unwrapped ({len(raw_keys) - 1})")
        for label, raw in raw_keys.items():
            expect(len(raw) == 32 and raw not in blobs and raw.decode("latin-1") not in dump and raw.hex() not in dump,
                   f"table dump holds no {label} as raw bytes")
        expect(len(items) > 8, f"the table dump is not empty ({len(items)} items)")
        return 0
    finally:
        if api:
            api.terminate()
            api.wait(timeout=30)
        receiver.shutdown()
        twilio.shutdown()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
