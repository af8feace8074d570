"""A real SMTP server on loopback for the SMTP provider tests (aiosmtpd).

    python infra/smtp_server.py MODE CERT_DIR

MODE is `plain` (no TLS, no AUTH), `starttls` (STARTTLS required before AUTH and mail) or
`tls` (implicit TLS). With TLS, AUTH PLAIN/LOGIN is required: user `mailer`, password
`pa ss:word`. A throwaway CA, whose certificate is written to CERT_DIR/cert.pem, signs the server's
certificate for 127.0.0.1.

Prints `READY <port>`, then one JSON line per accepted message. Recipients whose local part is
`rejected` get 550, `greylisted` get 451, `slow` make DATA wait 5 s. Serves until stdin closes.
"""

import asyncio
import datetime
import ipaddress
import json
import logging
import os
import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = b"mailer", b"pa ss:word"
# aiosmtpd itself sets the deprecated Session.login_data on every login, and logs it.
logging.getLogger("mail.log").setLevel(logging.ERROR)


def make_certificate(directory):
    """A throwaway CA (written to cert.pem, what the client trusts) and a leaf for 127.0.0.1."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signing_key, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("Secure-2FA test CA", "Secure-2FA test CA", ca_key.public_key(), ca_key, True)
    leaf = build("127.0.0.1", "Secure-2FA test CA", leaf_key.public_key(), ca_key, False)
    with open(os.path.join(directory, "cert.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    chain_path, key_path = os.path.join(directory, "chain.pem"), os.path.join(directory, "key.pem")
    with open(chain_path, "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain_path, key_path)
    return context


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local == "rejected":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local == "greylisted":
            return f"451 4.7.1 <{address}>: Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(r.startswith("slow@") for r in envelope.rcpt_tos):
            await asyncio.sleep(5)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            # STARTTLS sets session.ssl; implicit TLS shows only on the transport.
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        print(json.dumps(record), flush=True)
        return "250 2.0.0 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = getattr(auth_data, "login", None) == USER and getattr(auth_data, "password", None) == PASSWORD
    # handled=False: the server answers 535 itself.
    return AuthResult(success=ok, handled=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    mode, directory = sys.argv[1], sys.argv[2]
    port = free_port()
    kwargs = {}
    if mode != "plain":
        context = make_certificate(directory)
        kwargs = dict(authenticator=authenticator, auth_require_tls=True, auth_required=True)
        if mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:
            # aiosmtpd counts only STARTTLS as TLS for `auth_require_tls`; here the whole
            # connection is TLS.
            kwargs.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    if mode == "tls":
        # The readiness probe must speak TLS to a TLS port; it trusts any certificate.
        controller._trigger_server = lambda: _trigger_tls(port)
    controller.start()
    print(f"READY {port}", flush=True)
    sys.stdin.read()
    controller.stop()


def _trigger_tls(port):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for _ in range(50):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
                with context.wrap_socket(raw) as s:
                    s.recv(1024)
                    return
        except OSError:
            time.sleep(0.1)


if __name__ == "__main__":
    main()
