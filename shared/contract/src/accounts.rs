//! The accounts contract: the store's single-use and counting rules, and
//! the sign-in use cases over each store, attacked the way an attacker
//! would (concurrent replays of one code, guesses past the limit).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use secure2fa_core::accounts::{
    Accounts, PASSWORD_LIMITS, PasswordHasher, SecondFactor, SystemMailer, TotpSecret, step_at,
};
use secure2fa_core::clock::{Clock, ManualClock};
use secure2fa_core::crypto::{DataKeyCache, IndexKey};
use secure2fa_core::error::AccountError;
use secure2fa_core::model::{AccountToken, AccountTokenPurpose, ProviderKind, Session, SessionLevel};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage, Store};
use zeroize::Zeroizing;

use crate::delayed_writes::DelayedWrites;
use crate::fixtures::*;

const NOW: i64 = 1_800_000_000;

/// `store` with every write held back `ms` milliseconds.
fn slowed(store: Arc<dyn Store>, delay: Duration) -> Arc<dyn Store> {
    DelayedWrites::new(store, delay)
}

fn unconfirmed(index: &str) -> secure2fa_core::model::Client {
    secure2fa_core::model::Client { confirmed_at: None, ..client(index) }
}

pub async fn a_self_sign_up_never_becomes_the_admin(store: Arc<dyn Store>) {
    let a = store.insert_client(&unconfirmed("idx-a")).await.unwrap();
    assert!(!a.is_admin, "an unconfirmed sign-up is never the admin");
    let a = store.confirm_client(a.id, "hash-a", NOW).await.unwrap().expect("unconfirmed");
    assert!(!a.is_admin, "nor once confirmed, even first");
    assert_eq!((a.password_hash.as_deref(), a.confirmed_at), (Some("hash-a"), Some(NOW)));
    assert!(store.confirm_client(a.id, "again", NOW).await.unwrap().is_none(), "confirmed once");
    assert_eq!(store.client(a.id).await.unwrap().unwrap().password_hash.as_deref(), Some("hash-a"));
    // The first client the operator registers (stored confirmed) is.
    assert!(store.insert_client(&client("idx-b")).await.unwrap().is_admin);
    assert!(!store.insert_client(&client("idx-c")).await.unwrap().is_admin);
    // A disabled sign-up cannot confirm.
    let d = store.insert_client(&unconfirmed("idx-d")).await.unwrap();
    assert!(store.set_client_disabled(d.id, true).await.unwrap());
    assert!(store.confirm_client(d.id, "h", NOW).await.unwrap().is_none());
}

pub async fn account_tokens_are_single_use_and_expire(store: Arc<dyn Store>) {
    let c = store.insert_client(&unconfirmed("idx-a")).await.unwrap();
    let token =
        |hash: &str, purpose| AccountToken { hash: hash.into(), client_id: c.id, purpose, expires_at: NOW + 60 };
    store.insert_account_token(&token("t1", AccountTokenPurpose::Confirm)).await.unwrap();
    let take = |hash: &'static str, purpose, now| {
        let store = store.clone();
        async move { store.take_account_token(hash, purpose, now).await.unwrap() }
    };
    assert!(take("t1", AccountTokenPurpose::Reset, NOW).await.is_none(), "another purpose");
    assert!(take("t1", AccountTokenPurpose::Confirm, NOW + 60).await.is_none(), "expired");
    assert!(take("nope", AccountTokenPurpose::Confirm, NOW).await.is_none());
    assert_eq!(take("t1", AccountTokenPurpose::Confirm, NOW).await.unwrap().client_id, c.id);
    assert!(take("t1", AccountTokenPurpose::Confirm, NOW).await.is_none(), "used");

    // Ten concurrent uses of one token: one wins.
    store.insert_account_token(&token("t2", AccountTokenPurpose::Reset)).await.unwrap();
    let slow = slowed(store.clone(), Duration::from_millis(20));
    let takes = join_all((0..10).map(|_| slow.take_account_token("t2", AccountTokenPurpose::Reset, NOW))).await;
    assert_eq!(takes.into_iter().filter(|t| t.as_ref().unwrap().is_some()).count(), 1);
}

pub async fn totp_steps_are_accepted_once_and_only_forward(store: Arc<dyn Store>) {
    let c = store.insert_client(&client("idx-a")).await.unwrap();
    assert!(!store.use_totp_step(c.id, 100).await.unwrap(), "no authenticator linked");
    assert!(!store.activate_totp(c.id, &sealed("p"), 100, &[]).await.unwrap(), "nothing pending");
    assert!(store.set_totp_pending(c.id, Some(&sealed("p"))).await.unwrap());
    assert!(!store.activate_totp(c.id, &sealed("other"), 100, &[]).await.unwrap(), "another pending secret");
    let codes = vec!["h1".to_owned(), "h2".to_owned()];
    assert!(store.activate_totp(c.id, &sealed("p"), 100, &codes).await.unwrap());
    let linked = store.client(c.id).await.unwrap().unwrap();
    assert_eq!(linked.totp_secret, Some(sealed("p")));
    assert_eq!((linked.totp_pending, linked.totp_last_step), (None, Some(100)));
    assert_eq!(linked.backup_codes, codes);
    assert!(store.set_totp_pending(c.id, Some(&sealed("q"))).await.unwrap());
    assert!(!store.activate_totp(c.id, &sealed("q"), 200, &[]).await.unwrap(), "one is linked already");
    assert!(!store.use_totp_step(c.id, 100).await.unwrap(), "the enrolment's step is used");
    assert!(!store.use_totp_step(c.id, 99).await.unwrap(), "older steps are over");
    assert!(store.use_totp_step(c.id, 101).await.unwrap());
    let slow = slowed(store.clone(), Duration::from_millis(20));
    let uses = join_all((0..10).map(|_| slow.use_totp_step(c.id, 102))).await;
    assert_eq!(uses.into_iter().filter(|u| *u.as_ref().unwrap()).count(), 1, "one step, one use");

    let epoch = store.client(c.id).await.unwrap().unwrap().session_epoch;
    assert!(store.remove_totp(c.id).await.unwrap());
    let removed = store.client(c.id).await.unwrap().unwrap();
    assert_eq!((removed.totp_secret, removed.totp_pending, removed.totp_last_step), (None, None, None));
    assert!(removed.backup_codes.is_empty());
    assert_eq!(removed.session_epoch, epoch + 1, "removing the authenticator ends the sessions");
}

pub async fn backup_codes_are_replaced_only_if_unchanged(store: Arc<dyn Store>) {
    let c = store.insert_client(&client("idx-a")).await.unwrap();
    let all: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    assert!(store.replace_backup_codes(c.id, &[], &all).await.unwrap());
    assert!(!store.replace_backup_codes(c.id, &[], &[]).await.unwrap(), "not what is stored");
    let slow = slowed(store.clone(), Duration::from_millis(20));
    let rest: Vec<String> = ["b", "c"].map(String::from).to_vec();
    let uses = join_all((0..10).map(|_| slow.replace_backup_codes(c.id, &all, &rest))).await;
    assert_eq!(uses.into_iter().filter(|u| *u.as_ref().unwrap()).count(), 1);
    assert_eq!(store.client(c.id).await.unwrap().unwrap().backup_codes, rest);
}

pub async fn sessions_are_stored_touched_and_ended(store: Arc<dyn Store>) {
    let c = store.insert_client(&client("idx-a")).await.unwrap();
    let session = Session {
        hash: "s1".into(),
        client_id: c.id,
        level: SessionLevel::Full,
        epoch: 0,
        created_at: NOW,
        expires_at: NOW + 3600,
        idle_expires_at: NOW + 600,
    };
    store.insert_session(&session).await.unwrap();
    assert_eq!(store.session("s1").await.unwrap(), Some(session.clone()));
    store.touch_session("s1", NOW + 900).await.unwrap();
    assert_eq!(store.session("s1").await.unwrap().unwrap().idle_expires_at, NOW + 900);
    assert!(store.delete_session("s1").await.unwrap());
    assert!(!store.delete_session("s1").await.unwrap());
    assert!(store.session("s1").await.unwrap().is_none());
    store.touch_session("s1", NOW + 900).await.unwrap();
    assert!(store.session("s1").await.unwrap().is_none(), "touching a deleted session does not bring it back");

    assert!(store.end_sessions(c.id).await.unwrap());
    assert!(store.set_password(c.id, "new").await.unwrap());
    let after = store.client(c.id).await.unwrap().unwrap();
    assert_eq!((after.session_epoch, after.password_hash.as_deref()), (2, Some("new")));
    let pending = store.insert_client(&unconfirmed("idx-b")).await.unwrap();
    assert!(!store.set_password(pending.id, "x").await.unwrap(), "an unconfirmed client has no password to reset");
}

pub async fn attempts_are_counted_up_to_the_limit_even_concurrently(store: Arc<dyn Store>) {
    let slow = slowed(store.clone(), Duration::from_millis(20));
    let counts = join_all((0..12).map(|_| slow.count_attempt("login:a", NOW, 900, 5))).await;
    let mut granted: Vec<u32> = counts.into_iter().filter_map(|c| c.unwrap()).collect();
    granted.sort();
    assert_eq!(granted, vec![1, 2, 3, 4, 5]);
    assert_eq!(store.count_attempt("login:a", NOW + 900, 900, 5).await.unwrap(), Some(1), "the next window");
    assert_eq!(store.count_attempt("login:b", NOW, 900, 5).await.unwrap(), Some(1), "another key");
    store.clear_attempts("login:a", NOW).await.unwrap();
    assert_eq!(store.count_attempt("login:a", NOW, 900, 5).await.unwrap(), Some(1), "cleared");
}

/// Account mail, kept for the test to read.
#[derive(Default)]
pub struct Mailbox(Mutex<Vec<(String, String, String)>>);

impl Mailbox {
    /// `(to, subject, body)` of every message so far.
    pub fn messages(&self) -> Vec<(String, String, String)> {
        self.0.lock().unwrap().clone()
    }

    /// The token quoted in the last message to `to`.
    pub fn last_token(&self, to: &str) -> String {
        let body = self.messages().into_iter().rev().find(|m| m.0 == to).expect("a message").2;
        let start = body.find("\"token\": \"").expect("a token in the message") + 10;
        body[start..start + 43].to_owned()
    }
}

#[async_trait]
impl MessageSender for Mailbox {
    async fn send(
        &self,
        _: ProviderKind,
        _: &ProviderCredentials,
        m: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        self.0.lock().unwrap().push((m.to.as_str().to_owned(), m.subject.clone(), m.body.clone()));
        Ok(SentMessage { provider_message_id: None })
    }
}

/// The accounts use cases over `store` with a manual clock and a mailbox.
pub struct AccountsFixture {
    pub accounts: Accounts,
    pub clock: Arc<ManualClock>,
    pub mail: Arc<Mailbox>,
}

impl AccountsFixture {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let clock = Arc::new(ManualClock::new(NOW));
        let mail = Arc::new(Mailbox::default());
        let keys = Arc::new(DataKeyCache::new(Arc::new(crate::verify_race::XorVault), 100, Duration::from_secs(600)));
        let accounts = Accounts {
            store,
            keys,
            index_key: IndexKey::from_bytes([9; 32]),
            clock: clock.clone() as Arc<dyn Clock>,
            mailer: SystemMailer {
                sender: mail.clone(),
                provider: ProviderKind::Outbox,
                credentials: Arc::new(serde_json::json!({})),
            },
            hasher: PasswordHasher::insecure_fast_for_tests(),
            base_url: Some("http://127.0.0.1:8080".into()),
        };
        Self { accounts, clock, mail }
    }

    /// Signs `email` up, confirms it with `password`, enrols an
    /// authenticator: the TOTP secret, the backup codes and a signed-in
    /// session's cookie value.
    pub async fn enrolled(&self, email: &str, password: &str) -> (TotpSecret, Vec<Zeroizing<String>>, String) {
        let a = &self.accounts;
        a.sign_up(&secure2fa_core::types::Email::parse(email).unwrap(), None).await.unwrap();
        a.confirm(&self.mail.last_token(email), password).await.unwrap();
        let session = a.login(email, password, None).await.unwrap();
        assert_eq!(session.level, SessionLevel::Enrol, "no authenticator yet: enrolment only");
        let enrolment = a.start_totp(session.secret.expose()).await.unwrap();
        let secret = TotpSecret::from_base32(&enrolment.secret_base32).unwrap();
        let code = secret.code_at_step(step_at(self.clock.now()));
        let (codes, full) = a.confirm_totp(session.secret.expose(), &code).await.unwrap();
        assert_eq!(full.level, SessionLevel::Full);
        (secret, codes, full.secret.expose().to_owned())
    }

    /// Password sign-in: the cookie value of the session awaiting the second factor.
    pub async fn password_step(&self, email: &str, password: &str) -> String {
        let s = self.accounts.login(email, password, Some("203.0.113.9")).await.unwrap();
        assert_eq!(s.level, SessionLevel::SecondFactor);
        s.secret.expose().to_owned()
    }
}

const PW: &str = "correct horse battery staple";

pub async fn sign_up_confirm_enrol_and_sign_in(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store.clone());
    let a = &f.accounts;
    let (secret, codes, cookie) = f.enrolled("alice@example.com", PW).await;
    assert_eq!(codes.len(), 10);
    let view = a.view(&cookie).await.unwrap();
    assert_eq!(
        (view.email.as_str(), view.is_admin, view.totp_enabled, view.backup_codes_left),
        ("alice@example.com", false, true, 10)
    );
    // The confirmation link was used: it cannot set a password again.
    let used = f.mail.messages()[0].2.clone();
    assert!(used.contains("/v1/account/confirm"));
    assert!(matches!(a.confirm(&f.mail.last_token("alice@example.com"), PW).await, Err(AccountError::BadToken)));

    // Sign in again: password, then a code of the next time step.
    f.clock.advance(30);
    let partial = f.password_step("alice@example.com", PW).await;
    assert!(matches!(a.signed_in(&partial).await, Err(AccountError::WrongStep(_))), "a partial session grants nothing");
    let code = secret.code_at_step(step_at(f.clock.now()));
    let full = a.second_factor(&partial, SecondFactor::Totp(code.clone())).await.unwrap();
    assert!(a.signed_in(full.secret.expose()).await.is_ok());
    assert!(a.session(&partial).await.is_err(), "the cookie value changes at sign-in");

    // The same code again (a replay within its 30 s): refused.
    let again = f.password_step("alice@example.com", PW).await;
    assert!(matches!(a.second_factor(&again, SecondFactor::Totp(code)).await, Err(AccountError::BadCode)));
    // A backup code works once.
    let backup = codes[3].to_string();
    assert!(a.second_factor(&again, SecondFactor::BackupCode(backup.clone())).await.is_ok());
    let third = f.password_step("alice@example.com", PW).await;
    assert!(matches!(a.second_factor(&third, SecondFactor::BackupCode(backup)).await, Err(AccountError::BadCode)));
    assert_eq!(a.view(full.secret.expose()).await.unwrap().backup_codes_left, 9);

    // Timeouts: idle after 30 minutes without use, absolute after 12 hours.
    f.clock.advance(31 * 60);
    assert!(matches!(a.session(full.secret.expose()).await, Err(AccountError::NotSignedIn)));
}

pub async fn sign_up_does_not_tell_whether_an_address_has_an_account(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    f.enrolled("alice@example.com", PW).await;
    let before = f.mail.messages().len();
    let email = secure2fa_core::types::Email::parse("alice@example.com").unwrap();
    f.accounts.sign_up(&email, None).await.unwrap();
    let notice = &f.mail.messages()[before];
    assert_eq!(notice.0, "alice@example.com");
    assert!(!notice.2.contains("\"token\""), "no token for an existing account");
    assert!(
        f.accounts
            .login("nobody@example.com", PW, None)
            .await
            .is_err_and(|e| matches!(e, AccountError::BadCredentials))
    );
    assert!(
        f.accounts
            .login("alice@example.com", "wrong password!", None)
            .await
            .is_err_and(|e| matches!(e, AccountError::BadCredentials))
    );
}

/// The attack: guess passwords until the limit, then try the right one.
pub async fn the_right_password_is_refused_once_the_guesses_are_used_up(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store.clone());
    f.enrolled("alice@example.com", PW).await;
    let slow = AccountsFixture {
        accounts: Accounts { store: slowed(store, Duration::from_millis(20)), ..f.accounts.clone() },
        ..f
    };
    let guesses = join_all((0..12).map(|_| slow.accounts.login("alice@example.com", "wrong guess here", None))).await;
    let compared = guesses.iter().filter(|g| matches!(g, Err(AccountError::BadCredentials))).count();
    assert_eq!(compared, PASSWORD_LIMITS[0].max as usize, "only the limit's worth of guesses is compared");
    let right = slow.accounts.login("alice@example.com", PW, None).await;
    assert!(
        matches!(right, Err(AccountError::RateLimited { retry_after_seconds }) if retry_after_seconds <= 900),
        "{right:?}"
    );
    let notice = slow.mail.messages().into_iter().filter(|m| m.1.contains("Failed sign-in")).count();
    assert_eq!(notice, 1, "one notice when the failures fill the limit");
    // A quarter of an hour later the owner gets in, and that clears the count.
    slow.clock.advance(900);
    assert!(slow.accounts.login("alice@example.com", PW, None).await.is_ok());
}

/// The attack: replay one backup code in concurrent sign-ins.
pub async fn one_backup_code_signs_in_once_under_concurrency(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store.clone());
    let (_, codes, _) = f.enrolled("alice@example.com", PW).await;
    let mut partials = vec![];
    for _ in 0..4 {
        partials.push(f.password_step("alice@example.com", PW).await);
    }
    let slow = Accounts { store: slowed(store, Duration::from_millis(30)), ..f.accounts.clone() };
    let code = codes[0].to_string();
    let tries = join_all(partials.iter().map(|p| slow.second_factor(p, SecondFactor::BackupCode(code.clone())))).await;
    assert_eq!(
        tries.iter().filter(|t| t.is_ok()).count(),
        1,
        "{:?}",
        tries.iter().map(|t| t.as_ref().err()).collect::<Vec<_>>()
    );
}

/// The attack: replay one TOTP code in concurrent sign-ins.
pub async fn one_totp_code_signs_in_once_under_concurrency(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store.clone());
    let (secret, _, _) = f.enrolled("alice@example.com", PW).await;
    f.clock.advance(30);
    let mut partials = vec![];
    for _ in 0..4 {
        partials.push(f.password_step("alice@example.com", PW).await);
    }
    let slow = Accounts { store: slowed(store, Duration::from_millis(30)), ..f.accounts.clone() };
    let code = secret.code_at_step(step_at(f.clock.now()));
    let tries = join_all(partials.iter().map(|p| slow.second_factor(p, SecondFactor::Totp(code.clone())))).await;
    assert_eq!(tries.iter().filter(|t| t.is_ok()).count(), 1);
}

/// The attack: guess second factors until the limit, then the right code.
pub async fn the_right_code_is_refused_once_the_second_factor_guesses_are_used_up(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    let (secret, _, _) = f.enrolled("alice@example.com", PW).await;
    f.clock.advance(30);
    let partial = f.password_step("alice@example.com", PW).await;
    let right = secret.code_at_step(step_at(f.clock.now()));
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert!(matches!(
            f.accounts.second_factor(&partial, SecondFactor::Totp(wrong.into())).await,
            Err(AccountError::BadCode)
        ));
    }
    assert!(matches!(
        f.accounts.second_factor(&partial, SecondFactor::Totp(right)).await,
        Err(AccountError::RateLimited { .. })
    ));
}

pub async fn a_password_reset_ends_every_session(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    let (secret, _, cookie) = f.enrolled("alice@example.com", PW).await;
    let email = secure2fa_core::types::Email::parse("alice@example.com").unwrap();
    f.accounts.request_password_reset(&email, None).await.unwrap();
    let token = f.mail.last_token("alice@example.com");
    assert!(f.accounts.reset_password(&token, "password1234").await.is_err(), "a common password is refused");
    f.accounts.reset_password(&token, "a brand new passphrase").await.unwrap();
    assert!(matches!(f.accounts.session(&cookie).await, Err(AccountError::NotSignedIn)));
    assert!(f.accounts.reset_password(&token, "another new passphrase").await.is_err(), "single use");
    assert!(f.accounts.login("alice@example.com", PW, None).await.is_err());
    f.clock.advance(30);
    let partial = f.password_step("alice@example.com", "a brand new passphrase").await;
    let code = secret.code_at_step(step_at(f.clock.now()));
    assert!(f.accounts.second_factor(&partial, SecondFactor::Totp(code)).await.is_ok(), "the authenticator stays");
    // An unknown address gets the same answer and no mail.
    let before = f.mail.messages().len();
    let nobody = secure2fa_core::types::Email::parse("nobody@example.com").unwrap();
    f.accounts.request_password_reset(&nobody, None).await.unwrap();
    assert_eq!(f.mail.messages().len(), before);
}

pub async fn log_out_everywhere_ends_other_sessions(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    let (secret, _, first) = f.enrolled("alice@example.com", PW).await;
    f.clock.advance(30);
    let partial = f.password_step("alice@example.com", PW).await;
    let code = secret.code_at_step(step_at(f.clock.now()));
    let second = f.accounts.second_factor(&partial, SecondFactor::Totp(code)).await.unwrap();
    f.accounts.logout_everywhere(second.secret.expose()).await.unwrap();
    assert!(f.accounts.session(&first).await.is_err());
    assert!(f.accounts.session(second.secret.expose()).await.is_err());
}

pub async fn sessions_time_out_idle_absolute_and_between_the_steps(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    let (secret, _, cookie) = f.enrolled("alice@example.com", PW).await;
    // Used every 20 minutes, a session lives 12 hours and no more.
    for _ in 0..35 {
        f.clock.advance(20 * 60);
        assert!(f.accounts.signed_in(&cookie).await.is_ok());
    }
    f.clock.advance(20 * 60);
    assert!(matches!(f.accounts.signed_in(&cookie).await, Err(AccountError::NotSignedIn)), "past 12 hours");
    // The second factor is awaited 10 minutes.
    let partial = f.password_step("alice@example.com", PW).await;
    f.clock.advance(10 * 60);
    let code = secret.code_at_step(step_at(f.clock.now()));
    assert!(matches!(
        f.accounts.second_factor(&partial, SecondFactor::Totp(code)).await,
        Err(AccountError::NotSignedIn)
    ));
}

pub async fn mail_requests_are_limited_per_address_and_per_ip(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    let alice = secure2fa_core::types::Email::parse("alice@example.com").unwrap();
    for _ in 0..3 {
        f.accounts.sign_up(&alice, Some("198.51.100.7")).await.unwrap();
    }
    assert!(matches!(f.accounts.request_password_reset(&alice, None).await, Err(AccountError::RateLimited { .. })));
    // Tags and dots reach the same inbox: they count against it too.
    for variant in ["alice+1@example.com", "a.lice@example.com", "ALICE+x@Example.com"] {
        let v = secure2fa_core::types::Email::parse(variant).unwrap();
        assert!(matches!(f.accounts.sign_up(&v, None).await, Err(AccountError::RateLimited { .. })), "{variant}");
    }
    assert_eq!(f.mail.messages().len(), 3, "no mail beyond the limit");
    for i in 0..7 {
        let other = secure2fa_core::types::Email::parse(&format!("user{i}@example.com")).unwrap();
        f.accounts.sign_up(&other, Some("198.51.100.7")).await.unwrap();
    }
    let one_more = secure2fa_core::types::Email::parse("late@example.com").unwrap();
    assert!(matches!(f.accounts.sign_up(&one_more, Some("198.51.100.7")).await, Err(AccountError::RateLimited { .. })));
    f.clock.advance(3600);
    assert!(f.accounts.sign_up(&one_more, Some("198.51.100.7")).await.is_ok(), "the next hour");
}

pub async fn a_client_is_disabled_and_enabled_but_never_the_admin(store: Arc<dyn Store>) {
    let admin = store.insert_client(&client("idx-a")).await.unwrap();
    let other = store.insert_client(&client("idx-b")).await.unwrap();
    assert!(admin.is_admin);
    assert!(!store.set_client_disabled(admin.id, true).await.unwrap(), "the admin stays enabled");
    assert!(!store.client(admin.id).await.unwrap().unwrap().disabled);
    assert!(store.set_client_disabled(other.id, true).await.unwrap());
    let disabled = store.client(other.id).await.unwrap().unwrap();
    assert_eq!((disabled.disabled, disabled.session_epoch), (true, 1), "disabling ends the sessions");
    assert!(store.set_client_disabled(other.id, false).await.unwrap());
    assert!(!store.client(other.id).await.unwrap().unwrap().disabled);
    assert!(!store.set_client_disabled(secure2fa_core::ids::ClientId::generate(), true).await.unwrap());
}

pub async fn account_mail_goes_to_the_stored_address_not_the_typed_one(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    let stored = secure2fa_core::types::Email::parse("alice@example.com").unwrap();
    let typed = secure2fa_core::types::Email::parse("ALICE@EXAMPLE.COM").unwrap();
    f.accounts.sign_up(&stored, None).await.unwrap();
    f.accounts.sign_up(&typed, None).await.unwrap();
    f.accounts.request_password_reset(&typed, None).await.unwrap();
    assert!(f.mail.messages().iter().all(|m| m.0 == "alice@example.com"), "{:?}", f.mail.messages());
}

pub async fn a_password_reset_lifts_a_lock_out(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    f.enrolled("alice@example.com", PW).await;
    for _ in 0..5 {
        assert!(f.accounts.login("alice@example.com", "somebody guessing", None).await.is_err());
    }
    assert!(matches!(f.accounts.login("alice@example.com", PW, None).await, Err(AccountError::RateLimited { .. })));
    let email = secure2fa_core::types::Email::parse("alice@example.com").unwrap();
    f.accounts.request_password_reset(&email, None).await.unwrap();
    f.accounts.reset_password(&f.mail.last_token("alice@example.com"), "a brand new passphrase").await.unwrap();
    assert!(f.accounts.login("alice@example.com", "a brand new passphrase", None).await.is_ok());
}

pub async fn an_ipv6_prefix_counts_as_one_address(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    for i in 0..secure2fa_core::accounts::PASSWORD_IP_LIMIT.max {
        let ip = format!("2001:db8:1:2::{i:x}");
        let email = format!("user{i}@example.com");
        assert!(matches!(
            f.accounts.login(&email, "guess guess guess", Some(&ip)).await,
            Err(AccountError::BadCredentials)
        ));
    }
    let same_prefix = f.accounts.login("late@example.com", "guess guess guess", Some("2001:db8:1:2:ffff::1")).await;
    assert!(matches!(same_prefix, Err(AccountError::RateLimited { .. })), "{same_prefix:?}");
    let other = f.accounts.login("late@example.com", "guess guess guess", Some("2001:db8:1:3::1")).await;
    assert!(matches!(other, Err(AccountError::BadCredentials)), "another /64 is another subscriber");
}

pub async fn a_lost_authenticator_is_unlinked_with_a_backup_code(store: Arc<dyn Store>) {
    let f = AccountsFixture::new(store);
    let (_, codes, cookie) = f.enrolled("alice@example.com", PW).await;
    let wrong = f.accounts.remove_totp(&cookie, "not the password", &codes[0], None).await;
    assert!(matches!(wrong, Err(AccountError::BadCredentials)), "the password is needed too");
    assert!(matches!(f.accounts.remove_totp(&cookie, PW, "zzzzz-zzzzz", None).await, Err(AccountError::BadCode)));
    f.accounts.remove_totp(&cookie, PW, &codes[0], None).await.unwrap();
    assert!(f.accounts.session(&cookie).await.is_err(), "every session ends");
    let again = f.accounts.login("alice@example.com", PW, None).await.unwrap();
    assert_eq!(again.level, SessionLevel::Enrol, "the next sign-in enrols a new authenticator");
}
