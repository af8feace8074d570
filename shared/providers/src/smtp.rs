//! SMTP, email, with lettre: one connection per message, to the channel's server.
//!
//! Sources: RFC 5321 (reply codes: 4yz transient, 5yz permanent), RFC 3207 (STARTTLS), RFC 8314
//! (implicit TLS on 465), RFC 4954 (AUTH; 535 bad credentials, 454 temporary failure), and
//! lettre's `AsyncSmtpConnection` (<https://docs.rs/lettre/0.11.23/lettre/transport/smtp/client/struct.AsyncSmtpConnection.html>).
//!
//! | step | what | timeout | failure |
//! |---|---|---|---|
//! | resolve | the channel's host, each address checked by the deployment's [`AddressPolicy`] (the tenant chooses the host, as it chooses a webhook URL) | command | no allowed address: permanent |
//! | connect | TCP (implicit TLS for `security: tls`, port 465 by default), greeting, EHLO | connect + command | refused, reset: transient; certificate or TLS refused: permanent |
//! | STARTTLS | for `security: starttls` (port 587 by default); a server that does not offer it is refused | command | permanent |
//! | AUTH | PLAIN, else LOGIN, when the channel has a username | command | 535 and other 5yz: permanent; 4yz: transient |
//! | MAIL, RCPT, DATA | From (`Name <from>`), To, Subject, Date, Message-ID, `text/plain` or `text/html; charset=utf-8`, the body 7bit, quoted-printable or base64 as lettre picks | command | 5yz (unknown recipient, relay denied): permanent; 4yz (greylisting, mailbox busy): transient |
//!
//! `security: none` (no TLS at all) is for a server on loopback only, and only when the
//! deployment sets [`SmtpOptions::allow_plaintext_loopback`] (tests, a local catcher). The
//! message id stored is the Message-ID header we set (what bounces quote), without its brackets.
//! Reasons keep the reply code and the server's text, redacted: servers quote the recipient.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials as SmtpCredentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secure2fa_core::model::{ProviderKind, TemplateFormat};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};
use ulid::Ulid;

use crate::credentials::{Credentials, email_recipient};
use crate::failure::redact;
use crate::webhook::AddressPolicy;

const KIND: ProviderKind = ProviderKind::Smtp;

/// Deployment settings of the SMTP provider (never a channel's).
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// Which addresses a channel's SMTP host may resolve to: public ones on every deployment;
    /// a local server may allow private ones, as for webhooks.
    pub address_policy: AddressPolicy,
    /// Opening the TCP connection (each address tried).
    pub connect_timeout: Duration,
    /// Each step of the conversation: resolution, greeting and EHLO (after connecting),
    /// STARTTLS, AUTH, the message (MAIL, RCPT, DATA), QUIT.
    pub command_timeout: Duration,
    /// PEM certificates trusted besides the public roots (a private relay's CA; the tests').
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// Lets a channel use `security: none` towards a loopback address. Off on every deployment.
    pub allow_plaintext_loopback: bool,
    /// The name sent in EHLO; the machine's host name when `None`.
    pub hello_name: Option<String>,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        Self {
            address_policy: AddressPolicy::PublicOnly,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(10),
            extra_root_certificates: Vec::new(),
            allow_plaintext_loopback: false,
            hello_name: None,
        }
    }
}

/// An [`SmtpOptions`] that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("extra root certificate {0} is not a PEM certificate")]
    InvalidCertificate(usize),
}

/// Sends email over SMTP to each channel's own server.
#[derive(Debug, Clone)]
pub struct SmtpSender {
    options: SmtpOptions,
}

/// How the connection is protected (`security` field).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Security {
    StartTls,
    ImplicitTls,
    None,
}

impl SmtpSender {
    pub fn new(options: SmtpOptions) -> Result<Self, SmtpSetupError> {
        for (i, pem) in options.extra_root_certificates.iter().enumerate() {
            Certificate::from_pem(pem).map_err(|_| SmtpSetupError::InvalidCertificate(i))?;
        }
        Ok(Self { options })
    }

    fn tls_parameters(&self, host: &str) -> Result<TlsParameters, SendError> {
        let mut builder = TlsParameters::builder(host.to_owned());
        for pem in &self.options.extra_root_certificates {
            let cert =
                Certificate::from_pem(pem).map_err(|_| SendError::Permanent("smtp: bad root certificate".into()))?;
            builder = builder.add_root_certificate(cert);
        }
        builder.build_rustls().map_err(|_| SendError::Permanent("smtp: TLS could not be set up for this host".into()))
    }

    /// The addresses of `host` this deployment lets a channel reach. A name that does not resolve
    /// and one that resolves only to refused addresses fail alike, so that the tenant-visible log
    /// does not tell which internal names exist.
    async fn allowed_addresses(&self, host: &str, port: u16, security: Security) -> Result<Vec<SocketAddr>, SendError> {
        let refused = || SendError::Permanent("smtp: the host does not resolve to an allowed address".into());
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let lookup = tokio::net::lookup_host((host, port));
                match tokio::time::timeout(self.options.command_timeout, lookup).await {
                    Ok(Ok(addrs)) => addrs.collect(),
                    Ok(Err(_)) => return Err(refused()),
                    Err(_) => return Err(SendError::Transient("smtp: host name resolution timed out".into())),
                }
            }
        };
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| self.options.address_policy.allows(a.ip()))
            .filter(|a| security != Security::None || a.ip().is_loopback())
            .collect();
        if allowed.is_empty() { Err(refused()) } else { Ok(allowed) }
    }

    /// Connects to the first address that answers, through the greeting and EHLO.
    async fn connect(
        &self,
        addrs: &[SocketAddr],
        hello: &ClientId,
        implicit_tls: Option<TlsParameters>,
        known: &[&str],
    ) -> Result<AsyncSmtpConnection, SendError> {
        let bound = self.options.connect_timeout + self.options.command_timeout;
        let mut last = SendError::Transient("smtp connect: connection failed".into());
        for addr in addrs {
            let connecting = AsyncSmtpConnection::connect_tokio1(
                *addr,
                Some(self.options.connect_timeout),
                hello,
                implicit_tls.clone(),
                None,
            );
            match tokio::time::timeout(bound, connecting).await {
                Ok(Ok(connection)) => return Ok(connection),
                Ok(Err(e)) => {
                    let error = classify("connect", &e, known);
                    // Another address of the same host will not trust a certificate more, nor
                    // answer a reply code differently.
                    if matches!(error, SendError::Permanent(_)) || e.status().is_some() {
                        return Err(error);
                    }
                    last = error;
                }
                Err(_) => return Err(SendError::Transient("smtp connect: timed out".into())),
            }
        }
        Err(last)
    }

    /// Runs one step of the conversation within the command timeout.
    async fn step<T>(
        &self,
        stage: &'static str,
        known: &[&str],
        future: impl Future<Output = Result<T, SmtpError>>,
    ) -> Result<T, SendError> {
        match tokio::time::timeout(self.options.command_timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify(stage, &e, known)),
            Err(_) => Err(SendError::Transient(format!("smtp {stage}: timed out"))),
        }
    }
}

/// The email itself, and the Message-ID it carries (without brackets).
fn build_message(
    from: &str,
    from_name: Option<&str>,
    to: &str,
    m: &OutgoingMessage,
) -> Result<(Message, String), SendError> {
    let bad = |what: &str| SendError::Permanent(format!("smtp: the {what} address cannot be used"));
    let from: lettre::Address = from.parse().map_err(|_| bad("sender"))?;
    let to: lettre::Address = to.parse().map_err(|_| bad("recipient"))?;
    let id = format!("{}@{}", Ulid::new(), from.domain());
    let content_type = match m.format {
        TemplateFormat::Text => ContentType::TEXT_PLAIN,
        TemplateFormat::Html => ContentType::TEXT_HTML,
    };
    let message = Message::builder()
        .from(Mailbox::new(from_name.map(str::to_owned), from))
        .to(Mailbox::new(None, to))
        .subject(m.subject.as_str())
        .message_id(Some(format!("<{id}>")))
        .header(content_type)
        .body(m.body.clone())
        .map_err(|_| SendError::Permanent("smtp: the message could not be built".into()))?;
    Ok((message, id))
}

/// A failed SMTP step as a [`SendError`]: reply codes decide (RFC 5321: 4yz transient, 5yz
/// permanent); a refused certificate or TLS handshake is permanent (retrying meets the same
/// certificate); a server without what the channel requires (STARTTLS, an AUTH mechanism) is
/// permanent; timeouts and broken connections are transient.
fn classify(stage: &str, e: &SmtpError, known: &[&str]) -> SendError {
    if e.status().is_some() {
        let reason = format!("smtp {stage}: {}", redact(&e.to_string(), known));
        return if e.is_permanent() { SendError::Permanent(reason) } else { SendError::Transient(reason) };
    }
    if e.is_timeout() {
        return SendError::Transient(format!("smtp {stage}: timed out"));
    }
    if e.is_tls() || tls_refused(e) {
        return SendError::Permanent(format!(
            "smtp {stage}: TLS negotiation failed (certificate not trusted for the host, or no common protocol)"
        ));
    }
    if e.is_client() {
        return SendError::Permanent(format!("smtp {stage}: {}", redact(&e.to_string(), known)));
    }
    if e.is_response() {
        return SendError::Transient(format!("smtp {stage}: unreadable server reply"));
    }
    SendError::Transient(format!("smtp {stage}: connection failed"))
}

/// Whether the TLS handshake itself refused the peer: rustls reports a bad certificate or
/// protocol as an I/O error of kind `InvalidData`.
fn tls_refused(e: &SmtpError) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::InvalidData
        {
            return true;
        }
        source = err.source();
    }
    false
}

#[async_trait]
impl MessageSender for SmtpSender {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        let creds = Credentials::check(KIND, provider, credentials)?;
        let to = email_recipient(KIND, message)?;
        let host = creds.require("host")?;
        let security = match creds.get("security").unwrap_or("starttls") {
            "tls" => Security::ImplicitTls,
            "none" => Security::None,
            _ => Security::StartTls,
        };
        if security == Security::None && !self.options.allow_plaintext_loopback {
            return Err(SendError::Permanent("smtp: security none is not allowed by this deployment".into()));
        }
        let port = creds.port("port").unwrap_or(match security {
            Security::StartTls => 587,
            Security::ImplicitTls => 465,
            Security::None => 25,
        });
        let mut known = creds.values();
        known.push(to.as_str());
        let (email, message_id) = build_message(creds.require("from")?, creds.get("from_name"), to.as_str(), message)?;

        let addrs = self.allowed_addresses(host, port, security).await?;
        let hello = self.options.hello_name.clone().map(ClientId::Domain).unwrap_or_default();
        let implicit_tls = match security {
            Security::ImplicitTls => Some(self.tls_parameters(host)?),
            Security::StartTls | Security::None => None,
        };
        let mut connection = self.connect(&addrs, &hello, implicit_tls, &known).await?;
        if security == Security::StartTls {
            if !connection.can_starttls() {
                return Err(SendError::Permanent("smtp starttls: the server does not offer STARTTLS".into()));
            }
            let tls = self.tls_parameters(host)?;
            self.step("starttls", &known, connection.starttls(tls, &hello)).await?;
        }
        if let Some(user) = creds.get("username") {
            let login = SmtpCredentials::new(user.to_owned(), creds.require("password")?.to_owned());
            self.step("auth", &known, connection.auth(&[Mechanism::Plain, Mechanism::Login], &login)).await?;
        }
        self.step("send", &known, connection.send(email.envelope(), &email.formatted())).await?;
        // Delivered once DATA is accepted; a server that then hangs on QUIT changes nothing.
        let _ = tokio::time::timeout(self.options.command_timeout, connection.quit()).await;
        Ok(SentMessage { provider_message_id: Some(message_id) })
    }
}
