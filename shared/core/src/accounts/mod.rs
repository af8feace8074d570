//! Accounts: sign-up confirmed by mail, argon2id passwords, TOTP with
//! backup codes, server-side sessions, sign-in throttling and password
//! reset. Every single-use rule (mailed tokens, TOTP steps, backup codes) is
//! a conditional write in the store; attempt limits are counted before the
//! secret is compared, so concurrent guesses cannot exceed them.

mod password;
mod totp;

use std::sync::Arc;

use rand::Rng as _;
use zeroize::Zeroizing;

pub use password::{MAX_CHARS as PASSWORD_MAX_CHARS, MIN_CHARS as PASSWORD_MIN_CHARS, Password, PasswordHasher};
pub use totp::{TotpSecret, step_at};

use crate::clock::{Clock, UnixTime};
use crate::crypto::{DataKeyCache, IndexKey, KeyContext};
use crate::error::{AccountError, Internal, Unavailable};
use crate::ids::ClientId;
use crate::model::{AccountToken, AccountTokenPurpose, Client, OpaqueSecret, ProviderKind, Session, SessionLevel};
use crate::otp::Aad;
use crate::ports::{MessageSender, OutgoingMessage, ProviderCredentials, Store};
use crate::types::{Email, Recipient};

/// Sessions: idle and absolute timeouts of a signed-in session, and the
/// lifetime of one awaiting its second factor or an enrolment.
pub const SESSION_IDLE_SECONDS: i64 = 30 * 60;
pub const SESSION_ABSOLUTE_SECONDS: i64 = 12 * 3600;
pub const PARTIAL_SESSION_SECONDS: i64 = 10 * 60;
/// A session's idle timeout is moved on at most once a minute.
const TOUCH_EVERY_SECONDS: i64 = 60;

/// A session this young counts as a recent sign-in (it may create API tokens).
pub const RECENT_SIGN_IN_SECONDS: i64 = 15 * 60;

pub const CONFIRM_TOKEN_SECONDS: i64 = 24 * 3600;
pub const RESET_TOKEN_SECONDS: i64 = 3600;
pub const BACKUP_CODES: usize = 10;

/// An attempt limit: at most `max` attempts per `window` seconds.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub name: &'static str,
    pub window: u32,
    pub max: u32,
}

/// Password attempts per account (by email, known or not), cleared by a
/// successful sign-in or a password reset: 5 a quarter of an hour. No daily
/// tier: the second factor stands behind the password, and a daily cap
/// would let anyone lock an account out for the day with 20 requests.
pub const PASSWORD_LIMITS: [Limit; 1] = [Limit { name: "pw15m", window: 900, max: 5 }];
/// Password attempts per IP address, whichever the account.
pub const PASSWORD_IP_LIMIT: Limit = Limit { name: "pwip", window: 900, max: 30 };
/// Second-factor attempts per account, cleared by a success.
pub const SECOND_FACTOR_LIMITS: [Limit; 2] =
    [Limit { name: "2fa15m", window: 900, max: 5 }, Limit { name: "2fa1d", window: 86_400, max: 20 }];
/// Mails asked for (sign-up, password reset) per address and per IP.
pub const MAIL_LIMIT: Limit = Limit { name: "mail", window: 3600, max: 3 };
pub const MAIL_IP_LIMIT: Limit = Limit { name: "mailip", window: 3600, max: 10 };

/// Where account mail goes out: the outbox locally, SES on AWS (from the
/// deployment's sender address).
#[derive(Clone)]
pub struct SystemMailer {
    pub sender: Arc<dyn MessageSender>,
    pub provider: ProviderKind,
    /// The provider credentials (`{}` for the outbox; `{"from": ...}` or
    /// `{}` with the SES sender's default address).
    pub credentials: Arc<serde_json::Value>,
}

impl SystemMailer {
    async fn send(&self, to: &Email, subject: &str, body: String) -> Result<(), AccountError> {
        let message = OutgoingMessage {
            to: Recipient::Email(to.clone()),
            subject: subject.to_owned(),
            body,
            format: crate::model::TemplateFormat::Text,
            tracking: None,
        };
        let creds = ProviderCredentials((*self.credentials).clone());
        self.sender
            .send(self.provider, &creds, &message)
            .await
            .map(|_| ())
            .map_err(|e| Unavailable(format!("account mail: {e}")).into())
    }
}

/// A session just begun: its cookie value is shown once, to the browser.
#[derive(Debug)]
pub struct NewSession {
    pub secret: OpaqueSecret,
    pub level: SessionLevel,
    /// Seconds until the absolute timeout (the cookie's `Max-Age`).
    pub max_age: i64,
}

/// A second factor presented at sign-in.
pub enum SecondFactor {
    Totp(String),
    BackupCode(String),
}

/// What enrolling an authenticator shows once.
pub struct TotpEnrolment {
    pub secret_base32: Zeroizing<String>,
    pub otpauth_uri: Zeroizing<String>,
    pub qr_svg: String,
}

/// The account as its owner sees it.
pub struct AccountView {
    pub id: ClientId,
    pub email: String,
    pub is_admin: bool,
    pub totp_enabled: bool,
    pub backup_codes_left: usize,
    pub created_at: UnixTime,
}

/// A new client's record: its data key, sealed email and blind index.
pub async fn new_client(
    keys: &DataKeyCache,
    index_key: &IndexKey,
    now: UnixTime,
    email: &Email,
    confirmed_at: Option<UnixTime>,
) -> Result<Client, crate::crypto::KeyError> {
    let id = ClientId::generate();
    let (key, wrapped) = keys.generate(&KeyContext::client(id)).await?;
    Ok(Client {
        id,
        email: key.seal_str(Aad::client_email(&id.to_string()), email.as_str()),
        email_index: email_index(index_key, email),
        password_hash: None,
        totp_secret: None,
        totp_last_step: None,
        totp_pending: None,
        backup_codes: vec![],
        is_admin: false,
        session_epoch: 0,
        disabled: false,
        confirmed_at,
        created_at: now,
        data_key: wrapped,
    })
}

pub fn email_index(index_key: &IndexKey, email: &Email) -> crate::crypto::Mac {
    index_key.index("client_email", &email.canonical())
}

#[derive(Clone)]
pub struct Accounts {
    pub store: Arc<dyn Store>,
    pub keys: Arc<DataKeyCache>,
    pub index_key: IndexKey,
    pub clock: Arc<dyn Clock>,
    pub mailer: SystemMailer,
    pub hasher: PasswordHasher,
    /// The deployment's base URL, quoted in mails (`None`: unknown, the
    /// mails name the path only).
    pub base_url: Option<String>,
}

impl Accounts {
    fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// `path` on this deployment, as quoted in a mail.
    fn url(&self, path: &str) -> String {
        match &self.base_url {
            Some(base) => format!("{base}{path}"),
            None => format!("https://<your Secure-2FA deployment>{path}"),
        }
    }

    /// How the deployment is named in mails.
    fn deployment(&self) -> &str {
        self.base_url.as_deref().unwrap_or("your Secure-2FA deployment")
    }

    /// Counts one attempt under `limit` for `subject`; refused with the
    /// time left in the window when used up. Returns the count.
    async fn hit(&self, limit: Limit, subject: &str) -> Result<u32, AccountError> {
        let now = self.now();
        let start = now - now.rem_euclid(limit.window as i64);
        let key = format!("{}:{subject}", limit.name);
        match self.store.count_attempt(&key, start, limit.window, limit.max).await? {
            Some(n) => Ok(n),
            None => Err(AccountError::RateLimited {
                retry_after_seconds: (start + limit.window as i64 - now).max(1) as u32,
            }),
        }
    }

    async fn clear(&self, limit: Limit, subject: &str) -> Result<(), AccountError> {
        let now = self.now();
        let start = now - now.rem_euclid(limit.window as i64);
        Ok(self.store.clear_attempts(&format!("{}:{subject}", limit.name), start).await?)
    }

    /// The IP's throttling key: the address, or its /64 for IPv6 (one
    /// subscriber's prefix), hashed.
    fn ip_subject(&self, ip: Option<&str>) -> Option<String> {
        let ip = ip?;
        let key = match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().expect("mapped").to_string(),
            _ => ip.to_owned(),
        };
        Some(self.index_key.index("throttle_ip", &key).as_str().to_owned())
    }

    async fn client_email(&self, client: &Client) -> Result<Email, AccountError> {
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        let raw = key
            .open_string(Aad::client_email(&client.id.to_string()), &client.email)
            .map_err(|_| Internal(format!("email of {} cannot be opened", client.id)))?;
        Email::parse(&raw).map_err(|_| Internal(format!("email of {} does not parse", client.id)).into())
    }

    /// Words a password must not be: the email's local part and our name.
    fn new_password(candidate: &str, email: &Email) -> Result<Password, AccountError> {
        let local = email.as_str().split('@').next().unwrap_or_default();
        Ok(Password::new(candidate, &[local, "secure2fa", "secure-2fa"])?)
    }

    async fn mail_token(&self, client: ClientId, purpose: AccountTokenPurpose) -> Result<OpaqueSecret, AccountError> {
        let secret = OpaqueSecret::generate();
        let ttl = match purpose {
            AccountTokenPurpose::Confirm => CONFIRM_TOKEN_SECONDS,
            AccountTokenPurpose::Reset => RESET_TOKEN_SECONDS,
        };
        let token = AccountToken { hash: secret.hash(), client_id: client, purpose, expires_at: self.now() + ttl };
        self.store.insert_account_token(&token).await?;
        Ok(secret)
    }

    async fn throttle_mail(&self, email: &Email, ip: Option<&str>) -> Result<(), AccountError> {
        if let Some(ip) = self.ip_subject(ip) {
            self.hit(MAIL_IP_LIMIT, &ip).await?;
        }
        self.hit(MAIL_LIMIT, &self.mailbox_key(email)).await?;
        Ok(())
    }

    /// The mailbox an address reaches, for the mail limit: lower case,
    /// without a `+tag` or dots in the local part (`Victim+1@x`,
    /// `v.ictim@x` and `victim@x` count as one inbox, as many providers
    /// deliver them), hashed.
    fn mailbox_key(&self, email: &Email) -> String {
        let canonical = email.canonical();
        let (local, domain) = canonical.rsplit_once('@').unwrap_or((canonical.as_str(), ""));
        let local: String = local.split('+').next().unwrap_or_default().chars().filter(|c| *c != '.').collect();
        self.index_key.index("mailbox", &format!("{local}@{domain}")).as_str().to_owned()
    }

    /// Sign-up by email. The answer is the same whether the address is new
    /// or not (no account enumeration): a new or unconfirmed address gets a
    /// confirmation token, a confirmed one a notice.
    pub async fn sign_up(&self, email: &Email, ip: Option<&str>) -> Result<(), AccountError> {
        self.throttle_mail(email, ip).await?;
        let existing = self.store.client_by_email_index(&email_index(&self.index_key, email)).await?;
        let client = match existing {
            // Mail goes to the address stored, never to the one typed: two
            // spellings that find the same account must not divert its mail.
            Some(c) if c.confirmed_at.is_some() => {
                let stored = self.client_email(&c).await?;
                let body = format!(
                    "Someone asked to sign up to Secure-2FA at {} with this address, which already has an \
                     account. If it was you, sign in, or reset your password at {}, or with\n\n  curl -X POST {} -H \
                     'content-type: application/json' -d '{{\"email\": \"<this address>\"}}'\n\nIf it was not \
                     you, ignore this message.\n",
                    self.deployment(),
                    self.url("/password-reset"),
                    self.url("/v1/account/password-reset")
                );
                return self.mailer.send(&stored, "Your Secure-2FA account", body).await;
            }
            Some(c) => c,
            None => {
                let c = new_client(&self.keys, &self.index_key, self.now(), email, None).await?;
                match self.store.insert_client(&c).await {
                    Ok(c) => c,
                    // Signed up concurrently: one confirmation mail is enough.
                    Err(crate::ports::StoreError::Conflict(_)) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let to = self.client_email(&client).await?;
        let token = self.mail_token(client.id, AccountTokenPurpose::Confirm).await?;
        let body = format!(
            "Welcome to Secure-2FA at {deployment}.\n\nTo confirm this address and choose your password (12 to \
             128 characters) within 24 hours, open\n\n  {page}?token={token}\n\nor send this token to the \
             API:\n\n  {token}\n\n  curl -X POST {url} -H 'content-type: application/json' -d '{{\"token\": \
             \"{token}\", \"password\": \"<your password>\"}}'\n\nIf you did not sign up, ignore this \
             message.\n",
            deployment = self.deployment(),
            page = self.url("/confirm"),
            url = self.url("/v1/account/confirm"),
            token = token.expose()
        );
        self.mailer.send(&to, "Confirm your Secure-2FA account", body).await
    }

    /// Uses a mailed token of `purpose` with a new password: the policy is
    /// checked without the email first, then with it once the token names
    /// the client (a refusal then gives the token back: the password was
    /// the problem, not the link). The client and the new password's hash.
    async fn redeem(
        &self,
        token: &str,
        password: &str,
        purpose: AccountTokenPurpose,
    ) -> Result<(Client, String), AccountError> {
        if password.chars().count() > PASSWORD_MAX_CHARS || token.len() > 100 {
            return Err(AccountError::BadToken);
        }
        Password::new(password, &["secure2fa", "secure-2fa"])?;
        let hash = OpaqueSecret::hash_of(token);
        let taken = self.store.take_account_token(&hash, purpose, self.now()).await?.ok_or(AccountError::BadToken)?;
        let client = self.store.client(taken.client_id).await?.ok_or(AccountError::BadToken)?;
        let email = self.client_email(&client).await?;
        let password = match Self::new_password(password, &email) {
            Ok(p) => p,
            Err(e) => {
                self.store.insert_account_token(&taken).await?;
                return Err(e);
            }
        };
        let hashed = self.hasher.hash(&password).await;
        Ok((client, hashed))
    }

    /// Confirms a sign-up with the mailed token and sets the first password.
    pub async fn confirm(&self, token: &str, password: &str) -> Result<(), AccountError> {
        let (client, hashed) = self.redeem(token, password, AccountTokenPurpose::Confirm).await?;
        self.store.confirm_client(client.id, &hashed, self.now()).await?.ok_or(AccountError::BadToken)?;
        Ok(())
    }

    /// Mails a reset token to a confirmed account; the same answer whether
    /// the address has one or not.
    pub async fn request_password_reset(&self, email: &Email, ip: Option<&str>) -> Result<(), AccountError> {
        self.throttle_mail(email, ip).await?;
        let Some(client) = self.store.client_by_email_index(&email_index(&self.index_key, email)).await? else {
            return Ok(());
        };
        if client.confirmed_at.is_none() || client.disabled {
            return Ok(());
        }
        let to = self.client_email(&client).await?;
        let token = self.mail_token(client.id, AccountTokenPurpose::Reset).await?;
        let body = format!(
            "Someone asked to reset the password of your Secure-2FA account at {deployment}.\n\nTo choose a new \
             password within an hour (every session of the account ends), open\n\n  {page}?token={token}\n\n\
             or send this token to the API:\n\n  {token}\n\n  curl -X POST {url} -H 'content-type: application/json' -d '{{\"token\": \"{token}\", \
             \"password\": \"<new password>\"}}'\n\nIf it was not you, ignore this message: your password is \
             unchanged.\n",
            deployment = self.deployment(),
            page = self.url("/password-reset/confirm"),
            url = self.url("/v1/account/password-reset/confirm"),
            token = token.expose()
        );
        self.mailer.send(&to, "Reset your Secure-2FA password", body).await
    }

    /// Sets a new password with a mailed reset token; every session ends.
    /// The authenticator stays linked.
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<(), AccountError> {
        let (client, hashed) = self.redeem(token, password, AccountTokenPurpose::Reset).await?;
        if !self.store.set_password(client.id, &hashed).await? {
            return Err(AccountError::BadToken);
        }
        // The owner proved the mailbox: a lock-out by wrong guesses ends.
        for limit in PASSWORD_LIMITS {
            self.clear(limit, client.email_index.as_str()).await?;
        }
        Ok(())
    }

    /// Checks a password of `email_index`'s account under the password
    /// limits (counted first: concurrent guesses cannot exceed them); a
    /// success clears the account's counters. Mails a notice when the
    /// failures fill the first limit.
    async fn check_password(
        &self,
        email: Option<&Email>,
        index: &crate::crypto::Mac,
        client: Option<&Client>,
        password: &str,
        ip: Option<&str>,
    ) -> Result<(), AccountError> {
        if let Some(ip) = self.ip_subject(ip) {
            self.hit(PASSWORD_IP_LIMIT, &ip).await?;
        }
        let mut counts = Vec::with_capacity(PASSWORD_LIMITS.len());
        for limit in PASSWORD_LIMITS {
            counts.push(self.hit(limit, index.as_str()).await?);
        }
        let presented = Password::presented(password).ok_or(AccountError::BadCredentials)?;
        let hash = client.filter(|c| c.confirmed_at.is_some()).and_then(|c| c.password_hash.as_deref());
        if self.hasher.verify(&presented, hash).await {
            for limit in PASSWORD_LIMITS {
                self.clear(limit, index.as_str()).await?;
            }
            return Ok(());
        }
        if let (Some(_), Some(_), Some(client)) = (hash, email, client)
            && counts[0] == PASSWORD_LIMITS[0].max
        {
            let email = &self.client_email(client).await?;
            let body = format!(
                "There were {} failed attempts to sign in to your Secure-2FA account at {} in the last minutes; \
                 sign-in is paused for a while. If it was not you, your password is still safe as long as it \
                 is not used elsewhere; consider changing it.\n",
                PASSWORD_LIMITS[0].max,
                self.deployment()
            );
            // The notice is best effort: the refusal is the answer.
            if let Err(e) = self.mailer.send(email, "Failed sign-in attempts on your Secure-2FA account", body).await {
                tracing::warn!(error = %e, "sign-in notice not sent");
            }
        }
        Err(AccountError::BadCredentials)
    }

    async fn begin_session(&self, client: &Client, level: SessionLevel) -> Result<NewSession, AccountError> {
        let now = self.now();
        let lifetime = match level {
            SessionLevel::Full => SESSION_ABSOLUTE_SECONDS,
            SessionLevel::SecondFactor | SessionLevel::Enrol => PARTIAL_SESSION_SECONDS,
        };
        let secret = OpaqueSecret::generate();
        let session = Session {
            hash: secret.hash(),
            client_id: client.id,
            level,
            epoch: client.session_epoch,
            created_at: now,
            expires_at: now + lifetime,
            idle_expires_at: now + SESSION_IDLE_SECONDS.min(lifetime),
        };
        self.store.insert_session(&session).await?;
        Ok(NewSession { secret, level, max_age: lifetime })
    }

    /// Ends `old` and begins a session at `level` (the cookie value changes
    /// whenever the privilege does).
    async fn rotate(&self, old: &Session, client: &Client, level: SessionLevel) -> Result<NewSession, AccountError> {
        self.store.delete_session(&old.hash).await?;
        self.begin_session(client, level).await
    }

    /// Password sign-in: a session awaiting the second factor, or one that
    /// may only enrol an authenticator if none is linked yet.
    pub async fn login(&self, email: &str, password: &str, ip: Option<&str>) -> Result<NewSession, AccountError> {
        let raw: String = email.chars().take(320).collect();
        let email = Email::parse(email).ok();
        let index = match &email {
            Some(e) => email_index(&self.index_key, e),
            // Counted too, under its own key: the answer does not tell.
            None => self.index_key.index("login_unparsed", &raw),
        };
        let client = match &email {
            Some(_) => self.store.client_by_email_index(&index).await?,
            None => None,
        };
        self.check_password(email.as_ref(), &index, client.as_ref(), password, ip).await?;
        let client = client.ok_or(AccountError::BadCredentials)?;
        if client.disabled {
            return Err(AccountError::Disabled);
        }
        let level = if client.totp_secret.is_some() { SessionLevel::SecondFactor } else { SessionLevel::Enrol };
        self.begin_session(&client, level).await
    }

    /// The live session behind a cookie value and its client, its idle
    /// timeout moved on. Ended, expired or disabled: `NotSignedIn`/`Disabled`.
    pub async fn session(&self, cookie: &str) -> Result<(Session, Client), AccountError> {
        if cookie.is_empty() || cookie.len() > 100 {
            return Err(AccountError::NotSignedIn);
        }
        let now = self.now();
        let session = self.store.session(&OpaqueSecret::hash_of(cookie)).await?.ok_or(AccountError::NotSignedIn)?;
        if now >= session.expires_at || now >= session.idle_expires_at {
            return Err(AccountError::NotSignedIn);
        }
        let client = self.store.client(session.client_id).await?.ok_or(AccountError::NotSignedIn)?;
        if client.session_epoch != session.epoch {
            return Err(AccountError::NotSignedIn);
        }
        if client.disabled {
            return Err(AccountError::Disabled);
        }
        let idle = (now + SESSION_IDLE_SECONDS).min(session.expires_at);
        if idle - session.idle_expires_at >= TOUCH_EVERY_SECONDS {
            self.store.touch_session(&session.hash, idle).await?;
        }
        Ok((session, client))
    }

    /// Whether `session` began within [`RECENT_SIGN_IN_SECONDS`].
    pub fn is_recent(&self, session: &Session) -> bool {
        self.now() - session.created_at <= RECENT_SIGN_IN_SECONDS
    }

    /// A signed-in session (second factor done).
    pub async fn signed_in(&self, cookie: &str) -> Result<(Session, Client), AccountError> {
        let (session, client) = self.session(cookie).await?;
        match session.level {
            SessionLevel::Full => Ok((session, client)),
            SessionLevel::SecondFactor => Err(AccountError::WrongStep("enter your authenticator or backup code first")),
            SessionLevel::Enrol => Err(AccountError::WrongStep("link an authenticator first")),
        }
    }

    async fn totp_secret(&self, client: &Client, sealed: &crate::crypto::Sealed) -> Result<TotpSecret, AccountError> {
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        let raw = key
            .open(Aad::client_totp_secret(&client.id.to_string()), sealed)
            .map_err(|_| Internal(format!("TOTP secret of {} cannot be opened", client.id)))?;
        Ok(TotpSecret::from_bytes(raw))
    }

    /// Counts a second-factor attempt; the caller clears on success.
    async fn hit_second_factor(&self, client: ClientId) -> Result<(), AccountError> {
        for limit in SECOND_FACTOR_LIMITS {
            self.hit(limit, &client.to_string()).await?;
        }
        Ok(())
    }

    async fn clear_second_factor(&self, client: ClientId) -> Result<(), AccountError> {
        for limit in SECOND_FACTOR_LIMITS {
            self.clear(limit, &client.to_string()).await?;
        }
        Ok(())
    }

    /// Checks a current TOTP code of the linked authenticator and marks its
    /// step used (conditional write: a code is accepted once).
    async fn use_totp(&self, client: &Client, code: &str) -> Result<(), AccountError> {
        let sealed = client.totp_secret.as_ref().ok_or(AccountError::WrongStep("no authenticator is linked"))?;
        let secret = self.totp_secret(client, sealed).await?;
        let step = secret.matching_step(code, self.now(), client.totp_last_step).ok_or(AccountError::BadCode)?;
        if !self.store.use_totp_step(client.id, step).await? {
            return Err(AccountError::BadCode);
        }
        Ok(())
    }

    /// Uses one backup code: the list is rewritten without it only if
    /// unchanged since read (retried when another code was used meanwhile).
    async fn use_backup_code(&self, client: &Client, code: &str) -> Result<(), AccountError> {
        let hash = self.backup_code_hash(client.id, code).ok_or(AccountError::BadCode)?;
        let mut current = client.backup_codes.clone();
        for _ in 0..5 {
            if !current.contains(&hash) {
                return Err(AccountError::BadCode);
            }
            let rest: Vec<String> = current.iter().filter(|h| **h != hash).cloned().collect();
            if self.store.replace_backup_codes(client.id, &current, &rest).await? {
                return Ok(());
            }
            current = self.store.client(client.id).await?.ok_or(AccountError::NotSignedIn)?.backup_codes;
        }
        Err(Unavailable("backup codes changed concurrently".into()).into())
    }

    fn backup_code_hash(&self, client: ClientId, code: &str) -> Option<String> {
        let normal: String = code.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_lowercase()).collect();
        (normal.len() == 10 && normal.bytes().all(|b| BACKUP_ALPHABET.contains(&b)))
            .then(|| self.index_key.index("backup_code", &format!("{client}:{normal}")).as_str().to_owned())
    }

    /// Ten fresh backup codes (`xxxxx-xxxxx`, 50 bits each) and their hashes.
    fn generate_backup_codes(&self, client: ClientId) -> (Vec<Zeroizing<String>>, Vec<String>) {
        let mut rng = rand::rngs::OsRng;
        let codes: Vec<Zeroizing<String>> = (0..BACKUP_CODES)
            .map(|_| {
                let c: String =
                    (0..10).map(|_| BACKUP_ALPHABET[rng.gen_range(0..BACKUP_ALPHABET.len())] as char).collect();
                Zeroizing::new(format!("{}-{}", &c[..5], &c[5..]))
            })
            .collect();
        let hashes = codes.iter().map(|c| self.backup_code_hash(client, c).expect("well formed")).collect();
        (codes, hashes)
    }

    /// The second step of sign-in: a TOTP code or a backup code turns the
    /// session into a signed-in one (with a new cookie value).
    pub async fn second_factor(&self, cookie: &str, factor: SecondFactor) -> Result<NewSession, AccountError> {
        let (session, client) = self.session(cookie).await?;
        if session.level != SessionLevel::SecondFactor {
            return Err(AccountError::WrongStep("this session is not awaiting a second factor"));
        }
        self.hit_second_factor(client.id).await?;
        match factor {
            SecondFactor::Totp(code) => self.use_totp(&client, &code).await?,
            SecondFactor::BackupCode(code) => self.use_backup_code(&client, &code).await?,
        }
        self.clear_second_factor(client.id).await?;
        self.rotate(&session, &client, SessionLevel::Full).await
    }

    /// Starts linking an authenticator (a session at the enrolment step, or
    /// signed in without one): the secret, its otpauth URI and QR code.
    pub async fn start_totp(&self, cookie: &str) -> Result<TotpEnrolment, AccountError> {
        let (session, client) = self.session(cookie).await?;
        if session.level == SessionLevel::SecondFactor {
            return Err(AccountError::WrongStep("enter your authenticator or backup code first"));
        }
        if client.totp_secret.is_some() {
            return Err(AccountError::Conflict("an authenticator is already linked; remove it first"));
        }
        let secret = TotpSecret::generate();
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        let sealed = key.seal(Aad::client_totp_secret(&client.id.to_string()), secret.as_bytes());
        if !self.store.set_totp_pending(client.id, Some(&sealed)).await? {
            return Err(AccountError::NotSignedIn);
        }
        let account = self.client_email(&client).await?;
        Ok(TotpEnrolment {
            secret_base32: secret.base32(),
            otpauth_uri: secret.otpauth_uri(account.as_str()),
            qr_svg: secret.qr_svg(account.as_str()),
        })
    }

    /// Confirms the authenticator being linked with a current code: the ten
    /// backup codes (shown once) and a signed-in session.
    pub async fn confirm_totp(
        &self,
        cookie: &str,
        code: &str,
    ) -> Result<(Vec<Zeroizing<String>>, NewSession), AccountError> {
        let (session, client) = self.session(cookie).await?;
        if session.level == SessionLevel::SecondFactor {
            return Err(AccountError::WrongStep("enter your authenticator or backup code first"));
        }
        let pending =
            client.totp_pending.clone().ok_or(AccountError::Conflict("start linking an authenticator first"))?;
        self.hit_second_factor(client.id).await?;
        let secret = self.totp_secret(&client, &pending).await?;
        let step = secret.matching_step(code, self.now(), None).ok_or(AccountError::BadCode)?;
        let (codes, hashes) = self.generate_backup_codes(client.id);
        if !self.store.activate_totp(client.id, &pending, step, &hashes).await? {
            return Err(AccountError::Conflict("the authenticator changed meanwhile; start again"));
        }
        self.clear_second_factor(client.id).await?;
        let session = self.rotate(&session, &client, SessionLevel::Full).await?;
        Ok((codes, session))
    }

    /// Unlinks the authenticator: needs the password and a current code of
    /// it, or one of the backup codes (a lost device). Every session ends
    /// (the next sign-in enrols a new one).
    pub async fn remove_totp(
        &self,
        cookie: &str,
        password: &str,
        code: &str,
        ip: Option<&str>,
    ) -> Result<(), AccountError> {
        let (_, client) = self.signed_in(cookie).await?;
        self.check_password(None, &client.email_index, Some(&client), password, ip).await?;
        self.hit_second_factor(client.id).await?;
        if code.trim().len() == totp::DIGITS {
            self.use_totp(&client, code).await?;
        } else {
            self.use_backup_code(&client, code).await?;
        }
        self.clear_second_factor(client.id).await?;
        self.store.remove_totp(client.id).await?;
        Ok(())
    }

    /// New backup codes replace the old ones (password needed).
    pub async fn regenerate_backup_codes(
        &self,
        cookie: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<Vec<Zeroizing<String>>, AccountError> {
        let (_, client) = self.signed_in(cookie).await?;
        self.check_password(None, &client.email_index, Some(&client), password, ip).await?;
        let (codes, hashes) = self.generate_backup_codes(client.id);
        if !self.store.replace_backup_codes(client.id, &client.backup_codes, &hashes).await? {
            return Err(AccountError::Conflict("the backup codes changed meanwhile; try again"));
        }
        Ok(codes)
    }

    /// Changes the password (the current one needed); every other session
    /// ends and this one continues under a new cookie value.
    pub async fn change_password(
        &self,
        cookie: &str,
        current: &str,
        new: &str,
        ip: Option<&str>,
    ) -> Result<NewSession, AccountError> {
        let (session, client) = self.signed_in(cookie).await?;
        let email = self.client_email(&client).await?;
        let password = Self::new_password(new, &email)?;
        self.check_password(None, &client.email_index, Some(&client), current, ip).await?;
        let hashed = self.hasher.hash(&password).await;
        if !self.store.set_password(client.id, &hashed).await? {
            return Err(AccountError::NotSignedIn);
        }
        let client = self.store.client(client.id).await?.ok_or(AccountError::NotSignedIn)?;
        self.rotate(&session, &client, SessionLevel::Full).await
    }

    /// Ends this session (whatever its step); unknown cookies are fine.
    pub async fn logout(&self, cookie: &str) -> Result<(), AccountError> {
        if !cookie.is_empty() && cookie.len() <= 100 {
            self.store.delete_session(&OpaqueSecret::hash_of(cookie)).await?;
        }
        Ok(())
    }

    /// Ends every session of the account, this one included.
    pub async fn logout_everywhere(&self, cookie: &str) -> Result<(), AccountError> {
        let (session, client) = self.signed_in(cookie).await?;
        self.store.end_sessions(client.id).await?;
        self.store.delete_session(&session.hash).await?;
        Ok(())
    }

    /// Gives a confirmed client (the local demo's) a generated password and
    /// a freshly linked authenticator, replacing any: what a newcomer's
    /// scripts sign in with. Returns the password and the TOTP secret (base32).
    pub async fn provision_login(
        &self,
        client: &Client,
    ) -> Result<(Zeroizing<String>, Zeroizing<String>), AccountError> {
        let generated = OpaqueSecret::generate();
        let password = Password::new(generated.expose(), &[])?;
        let hashed = self.hasher.hash(&password).await;
        let set = match client.confirmed_at {
            Some(_) => self.store.set_password(client.id, &hashed).await?,
            // A data directory from before accounts: its demo client is unconfirmed.
            None => self.store.confirm_client(client.id, &hashed, self.now()).await?.is_some(),
        };
        if !set {
            return Err(AccountError::Conflict("the client changed meanwhile"));
        }
        self.store.remove_totp(client.id).await?;
        let secret = TotpSecret::generate();
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        let sealed = key.seal(Aad::client_totp_secret(&client.id.to_string()), secret.as_bytes());
        self.store.set_totp_pending(client.id, Some(&sealed)).await?;
        let (_, hashes) = self.generate_backup_codes(client.id);
        // Codes of the current step on are accepted.
        if !self.store.activate_totp(client.id, &sealed, step_at(self.now()) - 2, &hashes).await? {
            return Err(AccountError::Conflict("the authenticator changed meanwhile"));
        }
        Ok((Zeroizing::new(generated.expose().to_owned()), secret.base32()))
    }

    pub async fn view(&self, cookie: &str) -> Result<AccountView, AccountError> {
        let (_, client) = self.signed_in(cookie).await?;
        Ok(AccountView {
            id: client.id,
            email: self.client_email(&client).await?.as_str().to_owned(),
            is_admin: client.is_admin,
            totp_enabled: client.totp_secret.is_some(),
            backup_codes_left: client.backup_codes.len(),
            created_at: client.created_at,
        })
    }
}

/// Backup codes' alphabet: lowercase letters and digits without 0, 1, l, o.
const BACKUP_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
