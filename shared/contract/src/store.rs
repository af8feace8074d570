//! The store contract. Times are explicit (`now` parameters), so these tests
//! never sleep.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use secure2fa_core::crypto::Mac;
use secure2fa_core::ids::{ClientId, LogId, VerificationId};
use secure2fa_core::model::{
    CheckOutcome, ClaimOutcome, DeliveryState, LogEntry, LogFilter, LogLevel, NewVerification, VerificationStatus,
};
use secure2fa_core::ports::{StartError, Store, StoreError};

use crate::delayed_writes::DelayedWrites;
use crate::fixtures::*;

const NOW: i64 = 1_800_000_000;

fn m(s: &str) -> Mac {
    Mac::from_hex(s.to_owned())
}

pub async fn first_client_is_admin_and_only_the_first(store: Arc<dyn Store>) {
    let mut a = client("idx-a");
    a.is_admin = false;
    let a = store.insert_client(&a).await.unwrap();
    let mut b = client("idx-b");
    b.is_admin = true; // ignored: the store decides
    let b = store.insert_client(&b).await.unwrap();
    assert!(a.is_admin);
    assert!(!b.is_admin);
    assert!(store.client(a.id).await.unwrap().unwrap().is_admin);
    assert!(!store.client(b.id).await.unwrap().unwrap().is_admin);
    assert_eq!(store.client_by_email_index(&m("idx-b")).await.unwrap().unwrap().id, b.id);
    assert_eq!(store.list_clients().await.unwrap().len(), 2);
}

pub async fn concurrent_first_clients_make_exactly_one_admin(store: Arc<dyn Store>) {
    let inserts = (0..10).map(|i| {
        let store = store.clone();
        async move { store.insert_client(&client(&format!("idx-{i}"))).await.unwrap() }
    });
    let clients = join_all(inserts).await;
    assert_eq!(clients.iter().filter(|c| c.is_admin).count(), 1);
    let stored = store.list_clients().await.unwrap();
    assert_eq!(stored.iter().filter(|c| c.is_admin).count(), 1);
}

pub async fn client_email_is_unique(store: Arc<dyn Store>) {
    store.insert_client(&client("idx-same")).await.unwrap();
    let err = store.insert_client(&client("idx-same")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("email")), "{err:?}");
    assert_eq!(store.list_clients().await.unwrap().len(), 1);
    assert!(store.client_by_email_index(&m("idx-other")).await.unwrap().is_none());
}

pub async fn channels_and_templates_are_scoped_to_their_client(store: Arc<dyn Store>) {
    let a = store.insert_client(&client("idx-a")).await.unwrap();
    let b = store.insert_client(&client("idx-b")).await.unwrap();
    let ch = channel(a.id);
    let mut t = template(a.id);
    store.insert_channel(&ch).await.unwrap();
    store.insert_template(&t).await.unwrap();
    assert_eq!(store.channel(a.id, ch.id).await.unwrap().unwrap(), ch);
    assert_eq!(store.template(a.id, t.id).await.unwrap().unwrap(), t);
    assert!(store.channel(b.id, ch.id).await.unwrap().is_none());
    assert!(store.template(b.id, t.id).await.unwrap().is_none());
    assert_eq!(store.list_channels(a.id).await.unwrap(), vec![ch.clone()]);
    assert!(store.list_templates(b.id).await.unwrap().is_empty());
    assert!(!store.delete_channel(b.id, ch.id).await.unwrap(), "another client cannot delete it");

    let before = t.clone();
    t.title = "Renamed".into();
    let fr = secure2fa_core::types::Lang::parse("fr").unwrap();
    t.versions.insert(
        fr.clone(),
        secure2fa_core::model::TemplateVersion { subject: "Code".into(), body: "{{ OTP_CODE }}".into() },
    );
    assert!(store.update_template(&before, &t).await.unwrap());
    assert_eq!(store.template(a.id, t.id).await.unwrap().unwrap(), t);
    // An edit of the versions read before this one is refused: it would drop `fr`.
    let mut stale = before.clone();
    stale.title = "Stale".into();
    assert!(!store.update_template(&before, &stale).await.unwrap());
    assert!(
        !store.update_template(&t, &secure2fa_core::model::Template { client_id: b.id, ..t.clone() }).await.unwrap(),
        "another client's"
    );
    assert_eq!(store.template(a.id, t.id).await.unwrap().unwrap().title, "Renamed");
    // A channel is renamed and its credentials replaced, by its client only.
    assert!(store.update_channel(a.id, ch.id, "Mail 2", Some(&sealed("new credentials"))).await.unwrap());
    let renamed = store.channel(a.id, ch.id).await.unwrap().unwrap();
    assert_eq!((renamed.title.as_str(), renamed.credentials), ("Mail 2", sealed("new credentials")));
    assert!(store.update_channel(a.id, ch.id, "Mail 3", None).await.unwrap());
    assert_eq!(store.channel(a.id, ch.id).await.unwrap().unwrap().credentials, sealed("new credentials"), "kept");
    assert!(!store.update_channel(b.id, ch.id, "Theirs", None).await.unwrap());
    assert!(store.delete_template(a.id, t.id).await.unwrap());
    assert!(store.template(a.id, t.id).await.unwrap().is_none());
    assert!(!store.delete_template(a.id, t.id).await.unwrap());
}

pub async fn linked_channel_and_template_cannot_be_deleted(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    assert!(matches!(store.delete_channel(p.client_id, p.channel_id).await, Err(StoreError::InUse)));
    assert!(matches!(store.delete_template(p.client_id, p.template_id).await, Err(StoreError::InUse)));
    assert!(store.channel(p.client_id, p.channel_id).await.unwrap().is_some());
    assert!(store.delete_project(p.client_id, p.id).await.unwrap());
    assert!(store.delete_channel(p.client_id, p.channel_id).await.unwrap());
    assert!(store.delete_template(p.client_id, p.template_id).await.unwrap());
}

pub async fn project_needs_its_clients_channel_and_template(store: Arc<dyn Store>) {
    let a = store.insert_client(&client("idx-a")).await.unwrap();
    let b = store.insert_client(&client("idx-b")).await.unwrap();
    let (ch_a, t_a, t_b) = (channel(a.id), template(a.id), template(b.id));
    store.insert_channel(&ch_a).await.unwrap();
    store.insert_template(&t_a).await.unwrap();
    store.insert_template(&t_b).await.unwrap();

    let err = store.insert_project(&project(a.id, ch_a.id, t_b.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::Missing("template")), "{err:?}");
    let err = store.insert_project(&project(b.id, ch_a.id, t_b.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::Missing("channel")), "{err:?}");
    assert!(store.list_projects(a.id).await.unwrap().is_empty());
    assert!(store.list_projects(b.id).await.unwrap().is_empty());

    let p = project(a.id, ch_a.id, t_a.id);
    store.insert_project(&p).await.unwrap();
    assert_eq!(store.project(p.id).await.unwrap().unwrap(), p);
    assert_eq!(store.list_projects(a.id).await.unwrap(), vec![p]);
}

pub async fn project_public_key_is_unique(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let mut twin = project(p.client_id, p.channel_id, p.template_id);
    twin.public_key = p.public_key.clone();
    let err = store.insert_project(&twin).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("public_key")), "{err:?}");
    assert_eq!(store.project_by_public_key(p.public_key.as_str()).await.unwrap().unwrap().id, p.id);
    assert!(store.project_by_public_key("pk_unknown").await.unwrap().is_none());
}

pub async fn deleting_a_project_removes_its_end_users(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let v = verification(p.id, "u1", "code", NOW);
    store.start_verification(&new_verification(v.clone(), 30), NOW).await.unwrap();
    assert!(store.delete_project(p.client_id, p.id).await.unwrap());
    assert!(store.project(p.id).await.unwrap().is_none());
    assert!(store.project_by_public_key(p.public_key.as_str()).await.unwrap().is_none());
    assert!(store.verification(p.id, &v.user_ref).await.unwrap().is_none());
    assert!(!store.delete_project(p.client_id, p.id).await.unwrap());
}

pub async fn start_verification_supersedes_after_cooldown(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let first = verification(p.id, "u1", "code-1", NOW);
    store.start_verification(&new_verification(first.clone(), 30), NOW).await.unwrap();
    assert_eq!(store.verification(p.id, &first.user_ref).await.unwrap().unwrap(), first);

    let second = verification(p.id, "u1", "code-2", NOW + 10);
    match store.start_verification(&new_verification(second.clone(), 30), NOW + 10).await {
        Err(StartError::Cooldown { retry_after }) => assert_eq!(retry_after, 20),
        other => panic!("expected cooldown, got {other:?}"),
    }
    assert_eq!(
        store.verification(p.id, &first.user_ref).await.unwrap().unwrap().verification_id,
        first.verification_id
    );

    let mut third = verification(p.id, "u1", "code-3", NOW + 30);
    third.first_seen = NOW + 30;
    store.start_verification(&new_verification(third.clone(), 30), NOW + 30).await.unwrap();
    let stored = store.verification(p.id, &first.user_ref).await.unwrap().unwrap();
    assert_eq!(stored.verification_id, third.verification_id);
    assert_eq!(stored.code_mac, m("code-3"));
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.first_seen, NOW, "first_seen survives a new code");
}

pub async fn cooldown_does_not_apply_once_the_code_is_used_or_expired(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let v = verification(p.id, "u1", "code-1", NOW);
    store.start_verification(&new_verification(v.clone(), 300), NOW).await.unwrap();
    assert!(approved(&store.check_code(p.id, &v.user_ref, &m("code-1"), None, NOW + 1).await.unwrap()));
    let again = verification(p.id, "u1", "code-2", NOW + 2);
    store.start_verification(&new_verification(again.clone(), 300), NOW + 2).await.unwrap();
    // The new code starts clean: the previous approval does not carry over.
    assert!(!approved(&store.check_code(p.id, &v.user_ref, &m("code-1"), None, NOW + 3).await.unwrap()));
    assert!(approved(&store.check_code(p.id, &v.user_ref, &m("code-2"), None, NOW + 3).await.unwrap()));

    let mut short = verification(p.id, "u2", "code-1", NOW);
    short.expires_at = NOW + 60;
    store.start_verification(&new_verification(short, 300), NOW).await.unwrap();
    let after_expiry = verification(p.id, "u2", "code-2", NOW + 61);
    store.start_verification(&new_verification(after_expiry, 300), NOW + 61).await.unwrap();
}

pub async fn destination_limit_refuses_atomically(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    for i in 0..3 {
        let v = verification(p.id, &format!("u{i}"), "c", NOW);
        store.start_verification(&limited(v, "dest", NOW, 3), NOW).await.unwrap();
    }
    let blocked = verification(p.id, "u9", "c", NOW);
    match store.start_verification(&limited(blocked.clone(), "dest", NOW, 3), NOW).await {
        Err(StartError::DestinationLimit { retry_after }) => {
            assert_eq!(retry_after as i64, (NOW - NOW % 3600 + 3600) - NOW)
        }
        other => panic!("expected destination limit, got {other:?}"),
    }
    assert!(store.verification(p.id, &blocked.user_ref).await.unwrap().is_none(), "refused start wrote nothing");
    // Another destination is unaffected; the next window starts afresh.
    store.start_verification(&limited(verification(p.id, "u10", "c", NOW), "other", NOW, 3), NOW).await.unwrap();
    let later = NOW + 3600;
    store.start_verification(&limited(verification(p.id, "u9", "c", later), "dest", later, 3), later).await.unwrap();
}

pub async fn a_start_refused_by_cooldown_counts_no_send(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let limited_with_cooldown = |user: &str, now| NewVerification {
        cooldown_seconds: 30,
        ..limited(verification(p.id, user, "c", now), "dest", now, 2)
    };
    store.start_verification(&limited_with_cooldown("u1", NOW), NOW).await.unwrap();
    let again = store.start_verification(&limited_with_cooldown("u1", NOW + 1), NOW + 1).await;
    assert!(matches!(again, Err(StartError::Cooldown { .. })), "{again:?}");
    // Had the refused start counted, the window (2) would now be full.
    store.start_verification(&limited_with_cooldown("u2", NOW + 2), NOW + 2).await.unwrap();
    let third = store.start_verification(&limited_with_cooldown("u3", NOW + 3), NOW + 3).await;
    assert!(matches!(third, Err(StartError::DestinationLimit { .. })), "{third:?}");
}

fn approved(outcome: &CheckOutcome) -> bool {
    matches!(outcome, CheckOutcome::Counted(v) if v.status == VerificationStatus::Approved)
}

/// `Some(attempts)` when the check was counted without approving.
fn counted_wrong(outcome: &CheckOutcome) -> Option<u32> {
    match outcome {
        CheckOutcome::Counted(v) if v.status == VerificationStatus::Pending => Some(v.attempts),
        _ => None,
    }
}

pub async fn check_counts_every_comparison_of_code_and_device(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let mut v = verification(p.id, "u1", "right", NOW);
    v.device_mac = Some(m("phone"));
    store.start_verification(&new_verification(v.clone(), 0), NOW).await.unwrap();
    let check = |code: &'static str, device: Option<&'static str>, at| {
        let (store, user) = (store.clone(), v.user_ref.clone());
        async move { store.check_code(p.id, &user, &m(code), device.map(m).as_ref(), at).await.unwrap() }
    };

    let wrong = check("wrong", Some("phone"), NOW).await;
    assert_eq!(counted_wrong(&wrong), Some(1), "{wrong:?}");
    assert_eq!(wrong.record().unwrap().verification_id, v.verification_id);
    assert_eq!(counted_wrong(&check("right", Some("laptop"), NOW).await), Some(2), "other device: counted");
    match check("right", Some("phone"), v.expires_at).await {
        CheckOutcome::Refused(Some(old)) => assert_eq!(old.attempts, 2, "expired: neither counted nor compared"),
        other => panic!("expired code: {other:?}"),
    }
    let nobody = store.check_code(p.id, &m("user-nobody"), &m("right"), None, NOW).await.unwrap();
    assert_eq!(nobody, CheckOutcome::Refused(None));
    assert_eq!(counted_wrong(&check("right", None, NOW).await), Some(3), "no device: counted");

    // The cap is reached: the right code and device are refused, uncounted.
    match check("right", Some("phone"), NOW).await {
        CheckOutcome::Refused(Some(old)) => assert_eq!(old.attempts, 3),
        other => panic!("a correct code after the cap must be refused: {other:?}"),
    }
    let stored = store.verification(p.id, &v.user_ref).await.unwrap().unwrap();
    assert_eq!((stored.attempts, stored.status), (3, VerificationStatus::Pending));
}

pub async fn check_approves_once_and_a_used_code_is_refused(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let v = verification(p.id, "u1", "right", NOW);
    store.start_verification(&new_verification(v.clone(), 0), NOW).await.unwrap();
    let first = store.check_code(p.id, &v.user_ref, &m("right"), None, NOW).await.unwrap();
    assert!(approved(&first), "{first:?}");
    assert_eq!(first.record().unwrap().attempts, 1);
    for code in ["right", "wrong"] {
        match store.check_code(p.id, &v.user_ref, &m(code), None, NOW).await.unwrap() {
            CheckOutcome::Refused(Some(old)) => assert_eq!(old.status, VerificationStatus::Approved),
            other => panic!("a used code must refuse every later check: {other:?}"),
        }
    }
    let stored = store.verification(p.id, &v.user_ref).await.unwrap().unwrap();
    assert_eq!((stored.attempts, stored.status), (1, VerificationStatus::Approved));
}

/// Concurrent checks, slowed down so that they all reach the store before
/// any is written: exactly `max_attempts` are compared, and the right code
/// sent after them is refused.
pub async fn concurrent_wrong_checks_use_up_the_cap_and_the_right_code_is_refused(store: Arc<dyn Store>) {
    let store: Arc<dyn Store> = DelayedWrites::new(store, Duration::from_millis(20));
    let p = seeded_project(store.as_ref()).await;
    let v = verification(p.id, "u1", "right", NOW);
    store.start_verification(&new_verification(v.clone(), 0), NOW).await.unwrap();
    let guesses = (0..50).map(|i| {
        let (store, user) = (store.clone(), v.user_ref.clone());
        tokio::spawn(async move { store.check_code(p.id, &user, &m(&format!("wrong-{i}")), None, NOW).await.unwrap() })
    });
    let outcomes: Vec<CheckOutcome> = join_all(guesses).await.into_iter().map(|r| r.unwrap()).collect();
    let mut counted: Vec<u32> = outcomes.iter().filter_map(counted_wrong).collect();
    counted.sort();
    assert_eq!(counted, vec![1, 2, 3], "exactly max_attempts checks compared");
    let right = store.check_code(p.id, &v.user_ref, &m("right"), None, NOW).await.unwrap();
    assert!(matches!(&right, CheckOutcome::Refused(Some(old)) if old.attempts == 3), "{right:?}");
    assert_eq!(store.verification(p.id, &v.user_ref).await.unwrap().unwrap().attempts, 3);
}

pub async fn concurrent_correct_codes_approve_once(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let v = verification(p.id, "u1", "right", NOW);
    store.start_verification(&new_verification(v.clone(), 0), NOW).await.unwrap();
    let checks = (0..20).map(|_| {
        let (store, v) = (store.clone(), v.clone());
        tokio::spawn(async move { store.check_code(p.id, &v.user_ref, &m("right"), None, NOW).await.unwrap() })
    });
    let outcomes: Vec<CheckOutcome> = join_all(checks).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| approved(o)).count(), 1);
    assert!(outcomes.iter().all(|o| approved(o) || matches!(o, CheckOutcome::Refused(Some(_)))));
}

pub async fn a_superseded_code_is_never_approved(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let old = verification(p.id, "u1", "c1", NOW);
    store.start_verification(&new_verification(old.clone(), 0), NOW).await.unwrap();
    let new = verification(p.id, "u1", "c2", NOW + 1);
    store.start_verification(&new_verification(new.clone(), 0), NOW + 1).await.unwrap();
    let stale = store.check_code(p.id, &old.user_ref, &m("c1"), None, NOW + 1).await.unwrap();
    assert_eq!(counted_wrong(&stale), Some(1), "checked against the current code: {stale:?}");
    assert_eq!(stale.record().unwrap().verification_id, new.verification_id);
    assert!(approved(&store.check_code(p.id, &old.user_ref, &m("c2"), None, NOW + 1).await.unwrap()));
}

pub async fn a_cancelled_code_is_expired_and_can_be_replaced_at_once(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let v = verification(p.id, "u1", "c1", NOW);
    store.start_verification(&new_verification(v.clone(), 300), NOW).await.unwrap();
    store.cancel_verification(p.id, &v.user_ref, VerificationId::generate(), NOW).await.unwrap();
    assert_eq!(
        store.verification(p.id, &v.user_ref).await.unwrap().unwrap().expires_at,
        v.expires_at,
        "other id: no-op"
    );
    store.cancel_verification(p.id, &v.user_ref, v.verification_id, NOW).await.unwrap();
    let cancelled = store.check_code(p.id, &v.user_ref, &m("c1"), None, NOW).await.unwrap();
    assert!(matches!(cancelled, CheckOutcome::Refused(Some(_))), "cancelled code refused: {cancelled:?}");
    store.start_verification(&new_verification(verification(p.id, "u1", "c2", NOW), 300), NOW).await.unwrap();
    assert!(approved(&store.check_code(p.id, &v.user_ref, &m("c2"), None, NOW).await.unwrap()));
}

pub async fn delivery_is_claimed_once_and_lease_expiry_allows_a_retry(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let v = verification(p.id, "u1", "c", NOW);
    store.start_verification(&new_verification(v.clone(), 0), NOW).await.unwrap();
    let id = v.verification_id;

    let claims = (0..10).map(|_| {
        let (store, v) = (store.clone(), v.clone());
        tokio::spawn(async move { store.claim_delivery(p.id, &v.user_ref, id, NOW, 60).await.unwrap() })
    });
    let outcomes: Vec<ClaimOutcome> = join_all(claims).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == ClaimOutcome::Claimed { fallback: false }).count(), 1);
    assert!(
        outcomes
            .iter()
            .all(|o| *o == ClaimOutcome::Claimed { fallback: false } || *o == ClaimOutcome::Held { until: NOW + 60 })
    );
    let claim = |at| store.claim_delivery(p.id, &v.user_ref, id, at, 60);
    assert_eq!(claim(NOW + 59).await.unwrap(), ClaimOutcome::Held { until: NOW + 60 }, "lease holds: retry later");
    assert_eq!(
        claim(NOW + 60).await.unwrap(),
        ClaimOutcome::Claimed { fallback: false },
        "elapsed lease can be taken over"
    );

    // The first claim's worker, late: its lease (NOW + 60) ran out and the
    // delivery was claimed again (until NOW + 120). It cannot release or
    // close the new claim.
    store.finish_delivery(p.id, &v.user_ref, id, NOW + 60, DeliveryState::Queued, None).await.unwrap();
    store.finish_delivery(p.id, &v.user_ref, id, NOW + 60, DeliveryState::Sent, Some("SMstale")).await.unwrap();
    let stored = store.verification(p.id, &v.user_ref).await.unwrap().unwrap();
    assert_eq!((stored.delivery, stored.delivery_lease_until), (DeliveryState::Claimed, Some(NOW + 120)), "fenced");
    assert_eq!(
        claim(NOW + 61).await.unwrap(),
        ClaimOutcome::Held { until: NOW + 120 },
        "still held by the second claim"
    );

    store.finish_delivery(p.id, &v.user_ref, id, NOW + 120, DeliveryState::Queued, None).await.unwrap();
    assert_eq!(
        claim(NOW + 61).await.unwrap(),
        ClaimOutcome::Claimed { fallback: false },
        "released claim can be retaken"
    );
    store.finish_delivery(p.id, &v.user_ref, id, NOW + 121, DeliveryState::Sent, Some("SM0123")).await.unwrap();
    let stored = store.verification(p.id, &v.user_ref).await.unwrap().unwrap();
    assert_eq!(stored.delivery, DeliveryState::Sent);
    assert_eq!(stored.provider_message_id.as_deref(), Some("SM0123"), "the provider's message id is kept");
    assert_eq!(claim(NOW + 500).await.unwrap(), ClaimOutcome::Gone, "sent is final");
    // A finish for a claim no longer held changes nothing.
    store.finish_delivery(p.id, &v.user_ref, id, NOW + 121, DeliveryState::Queued, Some("SMlate")).await.unwrap();
    let stored = store.verification(p.id, &v.user_ref).await.unwrap().unwrap();
    assert_eq!((stored.delivery, stored.provider_message_id.as_deref()), (DeliveryState::Sent, Some("SM0123")));
}

pub async fn delivery_claim_refused_for_superseded_or_expired_code(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let old = verification(p.id, "u1", "c1", NOW);
    store.start_verification(&new_verification(old.clone(), 0), NOW).await.unwrap();
    let new = verification(p.id, "u1", "c2", NOW);
    store.start_verification(&new_verification(new.clone(), 0), NOW).await.unwrap();
    let claim = |id, at| store.claim_delivery(p.id, &new.user_ref, id, at, 60);
    assert_eq!(claim(old.verification_id, NOW).await.unwrap(), ClaimOutcome::Gone, "superseded");
    assert_eq!(claim(new.verification_id, new.expires_at).await.unwrap(), ClaimOutcome::Gone, "expired");
    assert_eq!(claim(VerificationId::generate(), NOW).await.unwrap(), ClaimOutcome::Gone, "unknown");
    assert_eq!(claim(new.verification_id, NOW).await.unwrap(), ClaimOutcome::Claimed { fallback: false });
    // A claim on a superseded code is gone even while the new one is held.
    assert_eq!(claim(old.verification_id, NOW + 1).await.unwrap(), ClaimOutcome::Gone);
    // A used code is never delivered.
    let used = verification(p.id, "u2", "c3", NOW);
    store.start_verification(&new_verification(used.clone(), 0), NOW).await.unwrap();
    assert!(approved(&store.check_code(p.id, &used.user_ref, &m("c3"), None, NOW).await.unwrap()));
    let claim_used = store.claim_delivery(p.id, &used.user_ref, used.verification_id, NOW, 60).await.unwrap();
    assert_eq!(claim_used, ClaimOutcome::Gone);
}

pub async fn logs_filter_and_page_newest_first(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let other = ClientId::generate();
    let mut ids = Vec::new();
    for i in 0..6 {
        let entry = LogEntry {
            id: LogId::generate(),
            client_id: p.client_id,
            project_id: if i % 2 == 0 { Some(p.id) } else { None },
            user_ref: if i == 4 { Some(m("user-x")) } else { None },
            verification_id: None,
            level: if i % 3 == 0 { LogLevel::Danger } else { LogLevel::Info },
            event: format!("e{i}"),
            message: format!("message {i}"),
            created_at: NOW + i,
        };
        store.append_log(&entry).await.unwrap();
        ids.push(entry.id);
    }
    let foreign = LogEntry {
        client_id: other,
        id: LogId::generate(),
        project_id: None,
        ..store.list_logs(p.client_id, &LogFilter { limit: 1, ..Default::default() }).await.unwrap().entries[0].clone()
    };
    store.append_log(&foreign).await.unwrap();

    let all = store.list_logs(p.client_id, &LogFilter { limit: 100, ..Default::default() }).await.unwrap().entries;
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), ids.iter().rev().copied().collect::<Vec<_>>());
    let events = |f: LogFilter| {
        let store = store.clone();
        async move {
            store.list_logs(p.client_id, &f).await.unwrap().entries.into_iter().map(|e| e.event).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        events(LogFilter { project_id: Some(p.id), limit: 100, ..Default::default() }).await,
        ["e4", "e2", "e0"]
    );
    assert_eq!(
        events(LogFilter { level: Some(LogLevel::Danger), limit: 100, ..Default::default() }).await,
        ["e3", "e0"]
    );
    assert_eq!(events(LogFilter { user_ref: Some(m("user-x")), limit: 100, ..Default::default() }).await, ["e4"]);
    assert_eq!(events(LogFilter { limit: 2, ..Default::default() }).await, ["e5", "e4"]);
    assert_eq!(events(LogFilter { before: Some(ids[4]), limit: 2, ..Default::default() }).await, ["e3", "e2"]);
    assert_eq!(store.list_logs(other, &LogFilter { limit: 100, ..Default::default() }).await.unwrap().entries.len(), 1);

    store.delete_project(p.client_id, p.id).await.unwrap();
    assert_eq!(
        events(LogFilter { limit: 100, ..Default::default() }).await,
        ["e5", "e3", "e1"],
        "deleted project's logs are not listed"
    );
}

/// Following `next_before` from page to page returns every matching entry
/// of the project exactly once, newest first, whatever the store does to
/// bound a page (DynamoDB reads a share of each log shard and may answer a
/// short page); another client's project id reads nothing.
pub async fn paging_through_logs_returns_each_entry_once_in_order(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let mut expected = Vec::new();
    for i in 0..40 {
        let entry = LogEntry {
            id: LogId::generate(),
            client_id: p.client_id,
            project_id: Some(p.id),
            // Spread over end users (and so over DynamoDB's log shards).
            user_ref: (i % 5 != 0).then(|| m(&format!("user-{}", i % 7))),
            verification_id: None,
            level: if i % 4 == 0 { LogLevel::Danger } else { LogLevel::Info },
            event: format!("e{i}"),
            message: String::new(),
            created_at: NOW + i,
        };
        store.append_log(&entry).await.unwrap();
        expected.push(entry);
    }
    expected.reverse();
    for level in [None, Some(LogLevel::Danger)] {
        let want: Vec<LogId> = expected.iter().filter(|e| level.is_none_or(|l| e.level == l)).map(|e| e.id).collect();
        let mut got = Vec::new();
        let mut before = None;
        for _ in 0..100 {
            let filter = LogFilter { project_id: Some(p.id), level, before, limit: 3, ..Default::default() };
            let page = store.list_logs(p.client_id, &filter).await.unwrap();
            assert!(page.entries.len() <= 3);
            got.extend(page.entries.iter().map(|e| e.id));
            match page.next_before {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        assert_eq!(got, want, "level {level:?}: every entry once, newest first");
    }
    let stranger = ClientId::generate();
    let filter = LogFilter { project_id: Some(p.id), limit: 100, ..Default::default() };
    assert!(store.list_logs(stranger, &filter).await.unwrap().entries.is_empty());

    // Client-wide, over two projects (DynamoDB: 65 partitions, each reading
    // a small share of the page), with pages smaller than that share.
    let second = crate::fixtures::project(p.client_id, p.channel_id, p.template_id);
    store.insert_project(&second).await.unwrap();
    for limit in [1, 3, 7] {
        let want: Vec<LogId> = expected.iter().map(|e| e.id).collect();
        let mut got = Vec::new();
        let mut before = None;
        for _ in 0..200 {
            let filter = LogFilter { before, limit, ..Default::default() };
            let page = store.list_logs(p.client_id, &filter).await.unwrap();
            assert!(page.entries.len() <= limit);
            got.extend(page.entries.iter().map(|e| e.id));
            match page.next_before {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        assert_eq!(got, want, "client-wide pages of {limit}: every entry once, newest first");
    }
}

/// Sends `v`'s delivery (claim, then `sent` with `message_id`).
async fn sent(store: &dyn Store, v: &secure2fa_core::model::Verification, message_id: &str, now: i64) {
    assert!(matches!(
        store.claim_delivery(v.project_id, &v.user_ref, v.verification_id, now, 60).await.unwrap(),
        ClaimOutcome::Claimed { .. }
    ));
    store
        .finish_delivery(v.project_id, &v.user_ref, v.verification_id, now + 60, DeliveryState::Sent, Some(message_id))
        .await
        .unwrap();
}

pub async fn api_tokens_are_found_by_hash_and_scoped_to_their_client(store: Arc<dyn Store>) {
    use secure2fa_core::ids::TokenId;
    use secure2fa_core::model::ApiToken;
    let a = store.insert_client(&client("idx-a")).await.unwrap();
    let b = store.insert_client(&client("idx-b")).await.unwrap();
    let token = |client, hash: &str| ApiToken {
        id: TokenId::generate(),
        client_id: client,
        name: "CI".into(),
        prefix: "s2fa_ct_abcd".into(),
        hash: hash.into(),
        created_at: NOW,
        last_used_at: None,
    };
    let ta = token(a.id, "hash-a");
    assert!(store.insert_token(&ta, 20).await.unwrap());
    assert!(store.insert_token(&token(b.id, "hash-b"), 20).await.unwrap());
    assert_eq!(store.token_by_hash("hash-a").await.unwrap(), Some(ta.clone()));
    assert_eq!(store.token_by_hash("hash-x").await.unwrap(), None);
    let missing = store.insert_token(&token(ClientId::generate(), "hash-c"), 20).await.unwrap_err();
    assert!(matches!(missing, StoreError::Missing("client")), "{missing:?}");
    assert_eq!(store.list_tokens(a.id).await.unwrap(), vec![ta.clone()]);
    store.touch_token(a.id, ta.id, NOW + 5).await.unwrap();
    assert_eq!(store.token_by_hash("hash-a").await.unwrap().unwrap().last_used_at, Some(NOW + 5));
    assert!(!store.delete_token(b.id, ta.id).await.unwrap(), "not b's token");
    assert!(store.token_by_hash("hash-a").await.unwrap().is_some());
    assert!(store.delete_token(a.id, ta.id).await.unwrap());
    assert_eq!(store.token_by_hash("hash-a").await.unwrap(), None, "a revoked token is found no more");
    assert!(store.list_tokens(a.id).await.unwrap().is_empty());
    assert!(!store.delete_token(a.id, ta.id).await.unwrap());
    store.touch_token(a.id, ta.id, NOW + 6).await.unwrap();

    // The limit holds under concurrency, and a revoked token frees its place.
    let slow: Arc<dyn Store> = DelayedWrites::new(store.clone(), Duration::from_millis(20));
    let tokens: Vec<_> = (0..8).map(|i| token(a.id, &format!("hash-many-{i}"))).collect();
    let made = join_all(tokens.iter().map(|t| slow.insert_token(t, 5))).await;
    assert_eq!(made.iter().filter(|m| *m.as_ref().unwrap()).count(), 5);
    assert_eq!(store.list_tokens(a.id).await.unwrap().len(), 5);
    let one = store.list_tokens(a.id).await.unwrap().remove(0);
    assert!(store.delete_token(a.id, one.id).await.unwrap());
    assert!(store.insert_token(&token(a.id, "hash-after"), 5).await.unwrap(), "a place freed");
    assert!(!store.insert_token(&token(a.id, "hash-over"), 5).await.unwrap(), "full again");
}

pub async fn a_channels_receipts_secret_is_replaced_for_its_client_only(store: Arc<dyn Store>) {
    let a = store.insert_client(&client("idx-a")).await.unwrap();
    let b = store.insert_client(&client("idx-b")).await.unwrap();
    let ch = channel(a.id);
    store.insert_channel(&ch).await.unwrap();
    let secret = secure2fa_core::crypto::Sealed::from_bytes(b"new secret".to_vec());
    assert!(!store.set_receipt_secret(b.id, ch.id, &secret).await.unwrap(), "not b's channel");
    assert_eq!(store.channel(a.id, ch.id).await.unwrap().unwrap().receipt_secret, None);
    assert!(store.set_receipt_secret(a.id, ch.id, &secret).await.unwrap());
    assert_eq!(store.channel(a.id, ch.id).await.unwrap().unwrap().receipt_secret, Some(secret.clone()));
    let absent = secure2fa_core::ids::ChannelId::generate();
    assert!(!store.set_receipt_secret(a.id, absent, &secret).await.unwrap());
}

pub async fn receipts_only_move_a_delivery_forward(store: Arc<dyn Store>) {
    use secure2fa_core::model::{DeliveryReceipt, ReceiptStatus::*};
    let p = seeded_project(store.as_ref()).await;
    let v = verification(p.id, "u1", "c1", NOW);
    store.start_verification(&new_verification(v.clone(), 0), NOW).await.unwrap();
    sent(store.as_ref(), &v, "SM1", NOW).await;
    let record = |status, reason: Option<&str>, mid: &str| {
        let receipt = DeliveryReceipt::new(status, reason, NOW + 5);
        let (store, v, mid) = (store.clone(), v.clone(), mid.to_owned());
        async move { store.record_receipt(p.id, &v.user_ref, v.verification_id, false, &mid, &receipt).await.unwrap() }
    };
    let stored_status = || async { store.verification(p.id, &v.user_ref).await.unwrap().unwrap().receipt };

    let after = record(Delivered, None, "SM1").await.expect("delivered moves sent forward");
    assert_eq!(after.receipt.as_ref().map(|r| r.status), Some(Delivered));
    assert!(record(Delivered, None, "SM1").await.is_none(), "the same receipt twice is a no-op");
    assert!(record(Sent, None, "SM1").await.is_none(), "a late `sent` never overwrites `delivered`");
    assert!(record(Failed, Some("30005 unknown"), "SM-other").await.is_none(), "another message's receipt");
    assert_eq!(stored_status().await.map(|r| r.status), Some(Delivered));
    let failed = record(Failed, Some("30005 unknown destination"), "SM1").await.expect("a carrier's late failure");
    let receipt = failed.receipt.unwrap();
    assert_eq!((receipt.status, receipt.reason.as_deref()), (Failed, Some("30005 unknown destination")));
    assert!(record(Bounced, None, "SM1").await.is_none(), "bounced ranks with failed");
    assert_eq!(record(Complained, None, "SM1").await.unwrap().receipt.unwrap().reason, None);

    // The receipt of the fallback's message does not land on the primary
    // route, nor one about a superseded code.
    let r = DeliveryReceipt::new(Sent, None, NOW);
    let w = verification(p.id, "u2", "c2", NOW);
    store.start_verification(&new_verification(w.clone(), 0), NOW).await.unwrap();
    sent(store.as_ref(), &w, "SM2", NOW).await;
    assert!(store.record_receipt(p.id, &w.user_ref, w.verification_id, true, "SM2", &r).await.unwrap().is_none());
    let newer = verification(p.id, "u2", "c3", NOW);
    store.start_verification(&new_verification(newer.clone(), 0), NOW).await.unwrap();
    assert!(store.record_receipt(p.id, &w.user_ref, w.verification_id, false, "SM2", &r).await.unwrap().is_none());
    let current = store.verification(p.id, &w.user_ref).await.unwrap().unwrap();
    assert_eq!((current.receipt, current.provider_message_id), (None, None), "a new code starts with no receipt");

    // A try the provider took although the worker saw a timeout: its receipt
    // pins its message, the retry's message replaces it (and its receipt),
    // and the retry's own receipts are then stored.
    let t = verification(p.id, "u3", "c4", NOW);
    store.start_verification(&new_verification(t.clone(), 0), NOW).await.unwrap();
    store.claim_delivery(p.id, &t.user_ref, t.verification_id, NOW, 60).await.unwrap();
    let failed = DeliveryReceipt::new(Failed, Some("30008"), NOW);
    store.record_receipt(p.id, &t.user_ref, t.verification_id, false, "SM-lost", &failed).await.unwrap().unwrap();
    store.finish_delivery(p.id, &t.user_ref, t.verification_id, NOW + 60, DeliveryState::Queued, None).await.unwrap();
    sent(store.as_ref(), &t, "SM-retry", NOW + 70).await;
    let after = store.verification(p.id, &t.user_ref).await.unwrap().unwrap();
    assert_eq!((after.provider_message_id.as_deref(), after.receipt), (Some("SM-retry"), None));
    let delivered = DeliveryReceipt::new(Delivered, None, NOW + 80);
    let user = &t.user_ref;
    assert!(
        store.record_receipt(p.id, user, t.verification_id, false, "SM-retry", &delivered).await.unwrap().is_some()
    );
    assert!(store.record_receipt(p.id, user, t.verification_id, false, "SM-lost", &failed).await.unwrap().is_none());

    // A receipt that beats the worker's `sent` write is kept with its id.
    let early = store.record_receipt(p.id, &w.user_ref, newer.verification_id, false, "SM3", &r).await.unwrap();
    assert_eq!(early.unwrap().provider_message_id.as_deref(), Some("SM3"));
    // ...and stays when that write comes.
    sent(store.as_ref(), &newer, "SM3", NOW).await;
    let kept = store.verification(p.id, &w.user_ref).await.unwrap().unwrap();
    assert_eq!(kept.receipt.map(|r| r.status), Some(Sent));
}

pub async fn a_delivery_fails_over_once_and_counts_a_send(store: Arc<dyn Store>) {
    use secure2fa_core::model::{DeliveryReceipt, ReceiptStatus::*};
    let p = seeded_project(store.as_ref()).await;
    let limit = |max| secure2fa_core::model::DestinationLimit {
        destination: m("dest"),
        window_start: NOW - NOW % 3600,
        window_seconds: 3600,
        max_sends: max,
    };
    let v = verification(p.id, "u1", "c1", NOW);
    store.start_verification(&limited(v.clone(), "dest", NOW, 3), NOW).await.unwrap();
    let fail_over = |at, max| {
        let (store, v, limit) = (store.clone(), v.clone(), limit(max));
        async move { store.start_fallback(p.id, &v.user_ref, v.verification_id, at, None, Some(&limit)).await }
    };
    assert!(!fail_over(NOW, 3).await.unwrap(), "nothing to fail over while queued");
    // Delivered: no fallback.
    sent(store.as_ref(), &v, "SM1", NOW).await;
    let delivered = DeliveryReceipt::new(Delivered, None, NOW);
    store.record_receipt(p.id, &v.user_ref, v.verification_id, false, "SM1", &delivered).await.unwrap().unwrap();
    assert!(!fail_over(NOW + 1, 3).await.unwrap(), "delivered");

    // Sent without a delivered receipt: moves once; concurrent tries move once.
    let w = verification(p.id, "u2", "c2", NOW);
    store.start_verification(&limited(w.clone(), "dest", NOW, 3), NOW).await.unwrap();
    sent(store.as_ref(), &w, "SM2", NOW).await;
    let ten = limit(10);
    let tries = (0..8).map(|_| store.start_fallback(p.id, &w.user_ref, w.verification_id, NOW + 2, None, Some(&ten)));
    let moved = join_all(tries).await.into_iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(moved, 1, "the fallback is used at most once per code");
    let after = store.verification(p.id, &w.user_ref).await.unwrap().unwrap();
    assert!(after.fallback);
    assert_eq!((after.delivery, after.provider_message_id, after.receipt), (DeliveryState::Queued, None, None));
    let claim = store.claim_delivery(p.id, &w.user_ref, w.verification_id, NOW + 3, 60).await.unwrap();
    assert_eq!(claim, ClaimOutcome::Claimed { fallback: true });
    store.finish_delivery(p.id, &w.user_ref, w.verification_id, NOW + 63, DeliveryState::Failed, None).await.unwrap();
    assert!(!store.start_fallback(p.id, &w.user_ref, w.verification_id, NOW + 4, None, None).await.unwrap(), "once");

    // A failed delivery moves, counted against the destination's window:
    // three sends used (two starts, one fallback), so a limit of 3 refuses.
    let x = verification(p.id, "u3", "c3", NOW);
    store.start_verification(&new_verification(x.clone(), 0), NOW).await.unwrap();
    store.claim_delivery(p.id, &x.user_ref, x.verification_id, NOW, 60).await.unwrap();
    store.finish_delivery(p.id, &x.user_ref, x.verification_id, NOW + 60, DeliveryState::Failed, None).await.unwrap();
    let refused = store.start_fallback(p.id, &x.user_ref, x.verification_id, NOW + 5, None, Some(&limit(3))).await;
    assert!(matches!(refused, Err(StartError::DestinationLimit { .. })), "{refused:?}");
    let unchanged = store.verification(p.id, &x.user_ref).await.unwrap().unwrap();
    assert!(!unchanged.fallback, "a refused fallback moves nothing");
    assert!(store.start_fallback(p.id, &x.user_ref, x.verification_id, NOW + 5, None, Some(&limit(4))).await.unwrap());
    // From the caller's own claim, fenced by its lease end: another
    // worker's lease does not move it, the caller's does.
    let z = verification(p.id, "u5", "c5", NOW);
    store.start_verification(&new_verification(z.clone(), 0), NOW).await.unwrap();
    store.claim_delivery(p.id, &z.user_ref, z.verification_id, NOW, 60).await.unwrap();
    let from_claim = |until| store.start_fallback(p.id, &z.user_ref, z.verification_id, NOW + 1, Some(until), None);
    assert!(!from_claim(NOW + 61).await.unwrap(), "not this caller's lease");
    assert!(!store.start_fallback(p.id, &z.user_ref, z.verification_id, NOW + 1, None, None).await.unwrap(), "claimed");
    assert!(from_claim(NOW + 60).await.unwrap(), "the caller's own claim");
    let moved = store.verification(p.id, &z.user_ref).await.unwrap().unwrap();
    assert_eq!((moved.fallback, moved.delivery, moved.delivery_lease_until), (true, DeliveryState::Queued, None));
    // An earlier try the provider took (we saw a timeout) reported
    // `delivered` while this claim ran: no fallback after all.
    let d = verification(p.id, "u6", "c6", NOW);
    store.start_verification(&new_verification(d.clone(), 0), NOW).await.unwrap();
    store.claim_delivery(p.id, &d.user_ref, d.verification_id, NOW, 60).await.unwrap();
    let took = DeliveryReceipt::new(Delivered, None, NOW);
    store.record_receipt(p.id, &d.user_ref, d.verification_id, false, "SM-took", &took).await.unwrap().unwrap();
    let moved = store.start_fallback(p.id, &d.user_ref, d.verification_id, NOW + 1, Some(NOW + 60), None).await;
    assert!(!moved.unwrap(), "delivered already");
    // A used or expired code does not fail over.
    let y = verification(p.id, "u4", "c4", NOW);
    store.start_verification(&new_verification(y.clone(), 0), NOW).await.unwrap();
    sent(store.as_ref(), &y, "SM4", NOW).await;
    assert!(!store.start_fallback(p.id, &y.user_ref, y.verification_id, y.expires_at, None, None).await.unwrap());
    assert!(approved(&store.check_code(p.id, &y.user_ref, &m("c4"), None, NOW).await.unwrap()));
    assert!(!store.start_fallback(p.id, &y.user_ref, y.verification_id, NOW + 6, None, None).await.unwrap());
}

pub async fn a_project_is_relinked_with_its_links_reference_counts(store: Arc<dyn Store>) {
    use secure2fa_core::model::Fallback;
    let p = seeded_project(store.as_ref()).await;
    let (ch2, t2) = (channel(p.client_id), template(p.client_id));
    store.insert_channel(&ch2).await.unwrap();
    store.insert_template(&t2).await.unwrap();
    let moved = secure2fa_core::model::Project {
        title: "Renamed".into(),
        channel_id: ch2.id,
        template_id: t2.id,
        fallback: Some(Fallback { channel_id: p.channel_id, after_seconds: 60 }),
        revision: 1,
        ..p.clone()
    };
    assert!(store.update_project(&p, &moved).await.unwrap());
    let stored = store.project(p.id).await.unwrap().unwrap();
    assert_eq!(stored, moved);
    assert_eq!(store.project_by_public_key(p.public_key.as_str()).await.unwrap().unwrap().title, "Renamed");
    // The old template is free, the new links are held (the old channel as fallback).
    assert!(store.delete_template(p.client_id, p.template_id).await.unwrap());
    assert!(matches!(store.delete_template(p.client_id, t2.id).await, Err(StoreError::InUse)));
    assert!(matches!(store.delete_channel(p.client_id, ch2.id).await, Err(StoreError::InUse)));
    assert!(matches!(store.delete_channel(p.client_id, p.channel_id).await, Err(StoreError::InUse)));
    // An edit read before this one is refused, and changes nothing.
    let stale = secure2fa_core::model::Project { title: "Stale".into(), ..p.clone() };
    assert!(!store.update_project(&p, &stale).await.unwrap());
    assert_eq!(store.project(p.id).await.unwrap().unwrap().title, "Renamed");
    // Swap channel and fallback: the counts move by their net change.
    let swapped = secure2fa_core::model::Project {
        channel_id: p.channel_id,
        fallback: Some(Fallback { channel_id: ch2.id, after_seconds: 60 }),
        revision: 2,
        ..moved.clone()
    };
    assert!(store.update_project(&moved, &swapped).await.unwrap());
    // Another client's template is refused.
    let other = store.insert_client(&client("idx-other")).await.unwrap();
    let foreign = template(other.id);
    store.insert_template(&foreign).await.unwrap();
    let bad = secure2fa_core::model::Project { template_id: foreign.id, revision: 3, ..swapped.clone() };
    assert!(matches!(store.update_project(&swapped, &bad).await, Err(StoreError::Missing(_))));
    assert_eq!(store.project(p.id).await.unwrap().unwrap(), swapped);
    // A rotated secret key keeps the previous one for an overlap; an edit
    // read before the rotation is refused (it would bring the old key back).
    let rotated = secure2fa_core::model::Project {
        secret_key: sealed("secret-2"),
        previous_secret_key: Some(swapped.secret_key.clone()),
        previous_secret_until: Some(NOW + 3600),
        revision: 3,
        ..swapped.clone()
    };
    assert!(store.update_project(&swapped, &rotated).await.unwrap());
    assert_eq!(store.project_by_public_key(p.public_key.as_str()).await.unwrap().unwrap(), rotated);
    assert!(
        !store
            .update_project(&swapped, &secure2fa_core::model::Project { title: "Old".into(), ..swapped.clone() })
            .await
            .unwrap()
    );
    assert_eq!(store.project(p.id).await.unwrap().unwrap().secret_key, sealed("secret-2"));
    // Unlinked, everything can go.
    assert!(store.delete_project(p.client_id, p.id).await.unwrap());
    assert!(store.delete_channel(p.client_id, ch2.id).await.unwrap());
    assert!(store.delete_channel(p.client_id, p.channel_id).await.unwrap());
    assert!(store.delete_template(p.client_id, t2.id).await.unwrap());
}

/// A project deleted while an edit relinks it: whichever commits first, the
/// links' reference counts end at zero (each channel and template can then
/// be deleted, none stays held by a project that is gone).
pub async fn a_project_deleted_during_a_relink_leaves_its_links_free(store: Arc<dyn Store>) {
    let p = seeded_project(store.as_ref()).await;
    let ch2 = channel(p.client_id);
    store.insert_channel(&ch2).await.unwrap();
    let slow: Arc<dyn Store> = DelayedWrites::new(store.clone(), Duration::from_millis(30));
    let moved = secure2fa_core::model::Project { channel_id: ch2.id, revision: 1, ..p.clone() };
    let (deleted, _relinked) = futures::join!(slow.delete_project(p.client_id, p.id), slow.update_project(&p, &moved));
    assert!(deleted.unwrap(), "the delete retries on a fresh read");
    assert!(store.project(p.id).await.unwrap().is_none());
    assert!(store.delete_channel(p.client_id, p.channel_id).await.unwrap(), "the first channel is free");
    assert!(store.delete_channel(p.client_id, ch2.id).await.unwrap(), "the second channel is free");
    assert!(store.delete_template(p.client_id, p.template_id).await.unwrap());
}
