//! The SMTP provider against a real SMTP server on loopback (aiosmtpd from the project's venv,
//! `infra/smtp_server.py`): STARTTLS and implicit TLS with AUTH, a certificate the sender must
//! check, reply codes classified by RFC 5321, and a server that stalls.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use secure2fa_core::model::{ProviderKind, TemplateFormat};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError};
use secure2fa_core::types::{Email, Recipient};
use secure2fa_providers::{AddressPolicy, SmtpOptions, SmtpSender};
use serde_json::{Value, json};

struct SmtpServer {
    port: u16,
    cert: Vec<u8>,
    lines: BufReader<ChildStdout>,
    _dir: TempDir,
    _child: KillOnDrop,
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl SmtpServer {
    fn start(mode: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("secure2fa-smtp-{}-{}", std::process::id(), ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(secure2fa_contract::moto::venv_python())
            .arg(root().join("infra/smtp_server.py"))
            .arg(mode)
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP server");
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        let port = first
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("SMTP server said {first:?}"))
            .parse()
            .unwrap();
        let cert = if mode == "plain" { Vec::new() } else { std::fs::read(dir.join("cert.pem")).unwrap() };
        Self { port, cert, lines, _dir: TempDir(dir), _child: KillOnDrop(child) }
    }

    /// The next message the server accepted.
    fn received(&mut self) -> Value {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a message record: {line:?}"))
    }

    fn sender(&self) -> SmtpSender {
        SmtpSender::new(SmtpOptions {
            address_policy: AddressPolicy::AllowPrivate,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
            extra_root_certificates: if self.cert.is_empty() { vec![] } else { vec![self.cert.clone()] },
            allow_plaintext_loopback: true,
            hello_name: Some("secure2fa.test".into()),
        })
        .unwrap()
    }

    fn creds(&self, security: &str) -> ProviderCredentials {
        ProviderCredentials(json!({
            "host": "127.0.0.1", "port": self.port, "security": security,
            "username": "mailer", "password": "pa ss:word", "from": "codes@example.com", "from_name": "Acme"
        }))
    }
}

fn message(to: &str, format: TemplateFormat) -> OutgoingMessage {
    OutgoingMessage {
        to: Recipient::Email(Email::parse(to).unwrap()),
        subject: "Your code".into(),
        body: "Your code is 493817".into(),
        format,
        tracking: None,
    }
}

fn reason(e: &SendError) -> &str {
    match e {
        SendError::Transient(r) | SendError::Permanent(r) => r,
        SendError::Throttled { reason, .. } => reason,
    }
}

#[tokio::test]
async fn starttls_with_auth_delivers_the_message_and_keeps_its_message_id() {
    let mut server = SmtpServer::start("starttls");
    let sent = server
        .sender()
        .send(ProviderKind::Smtp, &server.creds("starttls"), &message("ann@example.com", TemplateFormat::Html))
        .await
        .unwrap();
    let got = server.received();
    assert_eq!(got["tls"], true);
    assert_eq!(got["authenticated"], true);
    assert_eq!(got["mail_from"], "codes@example.com");
    assert_eq!(got["rcpt_tos"], json!(["ann@example.com"]));
    let data = got["data"].as_str().unwrap();
    let id = sent.provider_message_id.expect("the Message-ID is kept");
    assert!(data.contains(&format!("Message-ID: <{id}>")), "{data}");
    assert!(id.ends_with("@example.com"));
    assert!(data.contains("From: Acme <codes@example.com>"), "{data}");
    assert!(data.contains("Subject: Your code"), "{data}");
    assert!(data.contains("Content-Type: text/html; charset=utf-8"), "{data}");
    assert!(data.contains("Your code is 493817"), "{data}");
}

#[tokio::test]
async fn implicit_tls_with_auth_delivers_the_message() {
    let mut server = SmtpServer::start("tls");
    server
        .sender()
        .send(ProviderKind::Smtp, &server.creds("tls"), &message("bob@example.com", TemplateFormat::Text))
        .await
        .unwrap();
    let got = server.received();
    assert_eq!((got["tls"].clone(), got["authenticated"].clone()), (json!(true), json!(true)));
    assert!(got["data"].as_str().unwrap().contains("Content-Type: text/plain; charset=utf-8"));
}

#[tokio::test]
async fn refusals_are_classified_by_reply_code_without_the_recipient() {
    let server = SmtpServer::start("starttls");
    let sender = server.sender();
    let creds = server.creds("starttls");

    let err = sender
        .send(ProviderKind::Smtp, &creds, &message("rejected@example.com", TemplateFormat::Text))
        .await
        .unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.starts_with("smtp send:") && r.contains("550")), "{err:?}");
    assert!(!reason(&err).contains("rejected@example.com"), "{err:?}");

    let err = sender
        .send(ProviderKind::Smtp, &creds, &message("greylisted@example.com", TemplateFormat::Text))
        .await
        .unwrap_err();
    assert!(matches!(&err, SendError::Transient(r) if r.contains("451")), "{err:?}");
    assert!(!reason(&err).contains("greylisted@example.com"), "{err:?}");

    let mut wrong = creds.0.clone();
    wrong["password"] = json!("not the password");
    let err = sender
        .send(ProviderKind::Smtp, &ProviderCredentials(wrong), &message("ann@example.com", TemplateFormat::Text))
        .await
        .unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.starts_with("smtp auth:") && r.contains("535")), "{err:?}");
    assert!(!reason(&err).contains("not the password"));

    // A server that stalls after DATA: transient, within the command timeout.
    let started = std::time::Instant::now();
    let err =
        sender.send(ProviderKind::Smtp, &creds, &message("slow@example.com", TemplateFormat::Text)).await.unwrap_err();
    assert_eq!(err.to_string(), SendError::Transient("smtp send: timed out".into()).to_string());
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_untrusted_certificate_or_a_missing_starttls_is_permanent() {
    let server = SmtpServer::start("starttls");
    // The sender does not trust the server's throwaway certificate.
    let untrusting = SmtpSender::new(SmtpOptions {
        address_policy: AddressPolicy::AllowPrivate,
        command_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .unwrap();
    let err = untrusting
        .send(ProviderKind::Smtp, &server.creds("starttls"), &message("ann@example.com", TemplateFormat::Text))
        .await
        .unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.contains("TLS negotiation failed")), "{err:?}");

    // A channel that asks for STARTTLS is never sent in clear to a server without it.
    let plain = SmtpServer::start("plain");
    let err = plain
        .sender()
        .send(ProviderKind::Smtp, &plain.creds("starttls"), &message("ann@example.com", TemplateFormat::Text))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        SendError::Permanent("smtp starttls: the server does not offer STARTTLS".into()).to_string()
    );
}

#[tokio::test]
async fn the_deployment_decides_which_hosts_and_plaintext_a_channel_may_use() {
    let plain = SmtpServer::start("plain");
    let mut creds = plain.creds("none");
    creds.0.as_object_mut().unwrap().remove("username");
    creds.0.as_object_mut().unwrap().remove("password");
    let msg = message("ann@example.com", TemplateFormat::Text);

    // Public addresses only (every deployment's default): loopback is refused before connecting.
    let public_only = SmtpSender::new(SmtpOptions { allow_plaintext_loopback: true, ..Default::default() }).unwrap();
    let err = public_only.send(ProviderKind::Smtp, &creds, &msg).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.contains("does not resolve to an allowed address")), "{err:?}");

    // No plaintext unless the deployment allows it.
    let no_plaintext =
        SmtpSender::new(SmtpOptions { address_policy: AddressPolicy::AllowPrivate, ..Default::default() }).unwrap();
    let err = no_plaintext.send(ProviderKind::Smtp, &creds, &msg).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.contains("security none is not allowed")), "{err:?}");

    // Both allowed: the plain server on loopback receives it.
    let mut plain = plain;
    plain.sender().send(ProviderKind::Smtp, &creds, &msg).await.unwrap();
    assert_eq!(plain.received()["tls"], false);
}
