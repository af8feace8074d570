//! Attacks on the verify use case, run over every store adapter with its
//! writes slowed down ([`DelayedWrites`]) so that concurrent requests
//! overlap on purpose. The question each test asks is what an attacker
//! gains, not how many answers of a kind came back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use secure2fa_core::clock::{Clock, SystemClock};
use secure2fa_core::crypto::{DataKey, DataKeyCache, IndexKey, KeyContext, KeyError, KeyVault, WrappedKey, payload};
use secure2fa_core::manage::{Management, NewProject};
use secure2fa_core::model::{
    ChannelMethod, Job, ProjectSettings, ProviderKind, Quota, TemplateFormat, TemplateVersion,
};
use secure2fa_core::otp::{Generated, OtpService, VerifyStatus};
use secure2fa_core::ports::{JobQueue, QueueError, Store};
use secure2fa_core::quota::InProcessQuotas;
use secure2fa_core::types::{Email, Lang, PublicKey, SecretKey};
use serde_json::{Value, json};

use crate::delayed_writes::DelayedWrites;

/// Latency added to every write: about a disk sync, or a DynamoDB call.
pub const WRITE_DELAY: Duration = Duration::from_millis(20);

/// "Wraps" a data key by XOR with its context, which is enough for tests
/// that are not about the vault.
pub(crate) struct XorVault;

fn xor(ctx: &KeyContext, b: &[u8]) -> Vec<u8> {
    b.iter().zip(ctx.id.bytes().cycle()).map(|(a, k)| a ^ k).collect()
}

#[async_trait]
impl KeyVault for XorVault {
    async fn generate_data_key(&self, ctx: &KeyContext) -> Result<(DataKey, WrappedKey), KeyError> {
        let key = DataKey::generate();
        let wrapped = WrappedKey::from_bytes(xor(ctx, key.expose_raw()));
        Ok((key, wrapped))
    }
    async fn unwrap_data_key(&self, ctx: &KeyContext, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
        let raw = <[u8; 32]>::try_from(xor(ctx, wrapped.as_bytes()))
            .map_err(|_| KeyError::Unwrap { entity: ctx.entity, id: ctx.id.clone() })?;
        Ok(DataKey::from_bytes(raw))
    }
}

/// A queue that accepts and forgets (these tests read codes from template
/// requests, not from deliveries).
struct NullQueue;

#[async_trait]
impl JobQueue for NullQueue {
    async fn enqueue(&self, _: &Job) -> Result<(), QueueError> {
        Ok(())
    }
    async fn enqueue_after(&self, _: &Job, _: u32) -> Result<(), QueueError> {
        Ok(())
    }
}

/// The OTP use cases over `store`, and one project's keys.
pub struct RaceFixture {
    pub otp: OtpService,
    pub keys: Arc<DataKeyCache>,
    pub clock: Arc<dyn Clock>,
    pub public_key: PublicKey,
    pub secret_key: SecretKey,
    pub max_attempts: u32,
}

impl RaceFixture {
    pub async fn new(store: Arc<dyn Store>) -> Self {
        Self::with_queue(store, Arc::new(NullQueue)).await
    }

    /// The same, with the jobs `generate` enqueues going to `queue`.
    pub async fn with_queue(store: Arc<dyn Store>, queue: Arc<dyn JobQueue>) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let keys = Arc::new(DataKeyCache::new(Arc::new(XorVault), 100, Duration::from_secs(600)));
        let manage = Management {
            sender: None,
            store: store.clone(),
            keys: keys.clone(),
            index_key: IndexKey::from_bytes([7; 32]),
            clock: clock.clone(),
            allow_insecure_webhooks: false,
            public_url: None,
            queues: None,
            ses_senders: Default::default(),
        };
        let client = manage.register_client(&Email::parse("race@example.com").unwrap()).await.unwrap();
        let channel = manage
            .create_channel(&client, "Mail", ChannelMethod::Email, ProviderKind::Outbox, &json!({}))
            .await
            .unwrap();
        let en = Lang::parse("en").unwrap();
        let version = TemplateVersion { subject: "Code".into(), body: "{{ OTP_CODE }}".into() };
        let template = manage
            .create_template(client.id, "Login", en.clone(), TemplateFormat::Text, BTreeMap::from([(en, version)]))
            .await
            .unwrap();
        // Trials send hundreds of guesses a second: a quota would refuse them
        // before the attempt cap, which is what is under test.
        let quota = Quota::new(Quota::MAX_PER_SECOND, Quota::MAX_PER_SECOND * 10).expect("the largest quota");
        let settings = ProjectSettings { quota, ..ProjectSettings::default() };
        let new = NewProject {
            title: "Race".into(),
            channel_id: channel.id,
            template_id: template.id,
            settings,
            webhook_url: None,
            fallback: None,
        };
        let (_, project_keys) = manage.create_project(client.id, new).await.unwrap();
        let otp = OtpService::new(store, keys.clone(), queue, clock.clone(), Arc::new(InProcessQuotas::default()));
        Self {
            otp,
            keys,
            clock,
            public_key: project_keys.public_key,
            secret_key: project_keys.secret_key,
            max_attempts: settings.max_attempts,
        }
    }

    /// The `encrypted_data` of a request with `plain` and a fresh `iat`.
    pub fn request(&self, mut plain: Value) -> String {
        plain["iat"] = json!(SystemClock.now());
        payload::seal(&self.secret_key, &self.public_key, plain.to_string().as_bytes())
    }

    /// Starts a code for `user` with a template request and returns it.
    pub async fn code_for(&self, user: &str) -> String {
        let req = self.request(json!({"user_id": user, "to": "ann@example.com", "template_request": true}));
        let pk = self.public_key.as_str();
        let Generated::Template { encrypted_data, .. } = self.otp.generate(pk, &req).await.unwrap() else {
            panic!("a template request answers with the rendered message");
        };
        let plain = payload::open(&self.secret_key, &self.public_key, &encrypted_data).unwrap();
        let plain: Value = serde_json::from_slice(&plain).unwrap();
        plain["code"].as_str().unwrap().to_owned()
    }
}

/// `count` distinct codes of the same length as `right`, none equal to it.
fn wrong_codes(right: &str, count: usize) -> Vec<String> {
    let width = right.len();
    (0..).map(|i: u64| format!("{i:0width$}")).filter(|c| c != right).take(count).collect()
}

/// Whether an answer says the guess was compared with the code.
fn compared(status: VerifyStatus) -> bool {
    matches!(status, VerifyStatus::Approved | VerifyStatus::InvalidCode | VerifyStatus::DeviceMismatch)
}

async fn guess(fx: &Arc<RaceFixture>, user: &str, code: &str) -> VerifyStatus {
    fx.otp.verify(fx.public_key.as_str(), &fx.request(json!({"user_id": user, "code": code}))).await.unwrap().status
}

/// 40 wrong guesses are sent at once and, while their writes are still in
/// flight, the right one: it must be refused, because the wrong ones used up
/// the attempts. Before the fix the wrong guesses were compared first and
/// counted only by a second write, so the right one found the counter still
/// at zero and was approved.
pub async fn a_right_guess_behind_concurrent_wrong_ones_is_refused(store: Arc<dyn Store>) {
    let delay = Duration::from_millis(100);
    let fx = Arc::new(RaceFixture::new(DelayedWrites::new(store, delay)).await);
    let right = fx.code_for("victim").await;
    let wrong = wrong_codes(&right, 40).into_iter().map(|code| {
        let fx = fx.clone();
        tokio::spawn(async move { guess(&fx, "victim", &code).await })
    });
    let wrong: Vec<_> = wrong.collect();
    // Half a write delay later: every wrong guess has reached the store
    // (its write is being held back), none has been written yet.
    tokio::time::sleep(delay / 2).await;
    let right_answer = guess(&fx, "victim", &right).await;
    let wrong: Vec<VerifyStatus> = join_all(wrong).await.into_iter().map(|r| r.unwrap()).collect();

    assert_eq!(right_answer, VerifyStatus::MaxAttemptsReached, "wrong answers: {wrong:?}");
    let compared_wrong = wrong.iter().filter(|s| compared(**s)).count() as u32;
    assert_eq!(compared_wrong, fx.max_attempts, "exactly max_attempts wrong guesses compared: {wrong:?}");
}

/// What concurrency buys an attacker: 41 distinct guesses, the right one at
/// a random position, all sent at once, over many trials. A sound cap
/// compares only `max_attempts` of them, so the right one gets through in
/// about 5 trials of 41; before the fix it got through every time.
pub async fn concurrent_guessing_wins_no_more_often_than_the_cap_allows(store: Arc<dyn Store>) {
    const TRIALS: usize = 20;
    let fx = Arc::new(RaceFixture::new(DelayedWrites::new(store, Duration::from_millis(20))).await);
    let mut wins = 0;
    for trial in 0..TRIALS {
        let user = format!("victim-{trial}");
        let right = fx.code_for(&user).await;
        let mut guesses = wrong_codes(&right, 40);
        // Position from the (random) code itself: no extra RNG needed.
        let position = right.parse::<usize>().unwrap() % (guesses.len() + 1);
        guesses.insert(position, right.clone());
        let calls = guesses.iter().map(|code| {
            let (fx, user, code) = (fx.clone(), user.clone(), code.clone());
            tokio::spawn(async move { (guess(&fx, &user, &code).await, code) })
        });
        let answers: Vec<(VerifyStatus, String)> = join_all(calls).await.into_iter().map(|r| r.unwrap()).collect();
        let compared_count = answers.iter().filter(|(s, _)| compared(*s)).count() as u32;
        assert!(compared_count <= fx.max_attempts, "trial {trial}: {compared_count} compared: {answers:?}");
        for (status, code) in &answers {
            if *status == VerifyStatus::Approved {
                assert_eq!(code, &right);
                wins += 1;
            }
        }
        assert_ne!(guess(&fx, &user, &right).await, VerifyStatus::Approved, "nothing left to gain afterwards");
    }
    // Expected about TRIALS * 5/41 = 2.4; more than 10 has a probability
    // below 1e-5 for a sound cap, and a broken one wins all 20.
    assert!(wins <= 10, "the right code got through in {wins} of {TRIALS} trials");
}
