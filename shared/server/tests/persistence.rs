//! What lives on disk: data and pending jobs survive a restart, and the
//! SQLite files hold no code, address, end-user id or secret in clear.

mod common;

use common::*;
use reqwest::StatusCode;
use secure2fa::LocalApp;
use secure2fa_core::manage::NewProject;
use secure2fa_core::model::ProjectSettings;
use secure2fa_core::ports::{ClientStore, ProjectStore};
use secure2fa_core::types::CodeLength;
use serde_json::json;

#[tokio::test]
async fn a_restart_keeps_projects_verifications_and_pending_jobs() {
    let t = spawn_app().await;
    let creds = t.creds.clone();
    assert_eq!(t.generate("u", "restart@example.com").await.status, StatusCode::ACCEPTED);
    // Stop with the delivery job still pending, then start over on the same directory.
    let (config, clock, dir) = t.stop();
    let reopened = LocalApp::open(config, clock.clone()).unwrap();
    let t = serve(reopened, clock, dir).await;
    assert_eq!(t.creds.public_key, creds.public_key, "same demo project after restart");
    assert_eq!(t.creds.secret_key, creds.secret_key);
    let code = code_in(&t.deliver_and_read("restart@example.com").await.body);
    assert_eq!(t.verify("u", &code).await.verify_status(), "approved");
}

/// Every byte of the database files, as a lossy string.
fn database_bytes(dir: &std::path::Path) -> String {
    let mut all = Vec::new();
    for name in ["secure2fa.db", "secure2fa.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            all.extend(b);
        }
    }
    assert!(all.len() > 10_000, "database files are unexpectedly small");
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn the_database_holds_no_code_address_user_id_or_secret_in_clear() {
    let t = spawn_app().await;
    // Ten-digit codes: a six-digit code could appear in random bytes by chance.
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let demo = t.app.store.list_projects(client.id).await.unwrap().remove(0);
    let settings = ProjectSettings { code_length: CodeLength::new(10).unwrap(), ..ProjectSettings::default() };
    let (_, keys) = t
        .app
        .manage
        .create_project(
            client.id,
            NewProject {
                title: "Long codes".into(),
                channel_id: demo.channel_id,
                template_id: demo.template_id,
                settings,
                webhook_url: Some("https://hooks.example.com/secret-path-token".into()),
            },
        )
        .await
        .unwrap();
    let post = |path: &'static str, plain: serde_json::Value| {
        let data =
            secure2fa_core::crypto::payload::seal(&keys.secret_key, &keys.public_key, plain.to_string().as_bytes());
        let body = json!({ "public_key": keys.public_key.as_str(), "encrypted_data": data });
        t.post_raw(path, body.to_string(), Some("application/json"))
    };
    let mut codes = Vec::new();
    let mut user_ids = Vec::new();
    let mut addresses = Vec::new();
    for i in 0..5 {
        let (user, to) = (format!("customer-{i}-7f3a9"), format!("private.person{i}@example.org"));
        let r = post(
            "/otp/generate",
            json!({ "user_id": user, "to": to, "device": "device-fingerprint-xyz", "iat": t.now() }),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        let code = code_in(&t.deliver_and_read(&to).await.body);
        assert_eq!(code.len(), 10);
        if i % 2 == 0 {
            post(
                "/otp/verify",
                json!({ "user_id": user, "code": code, "device": "device-fingerprint-xyz", "iat": t.now() }),
            )
            .await;
        }
        codes.push(code);
        user_ids.push(user);
        addresses.push(to);
    }
    let db = database_bytes(t.dir.path());
    for needle in codes.iter().chain(&user_ids).chain(&addresses) {
        assert!(!db.contains(needle.as_str()), "{needle} found in the database");
    }
    for needle in [
        keys.secret_key.to_base64(),
        t.creds.secret_key.clone(),
        "secret-path-token".into(),
        "device-fingerprint-xyz".into(),
        keys.webhook_secret.as_ref().unwrap().expose().to_owned(),
        "demo@secure2fa.localhost".into(),
    ] {
        assert!(!db.contains(&needle), "{needle} found in the database");
    }
    // The check can fail: the outbox (a development sink) does hold them.
    let outbox = std::fs::read_to_string(t.dir.path().join("outbox.jsonl")).unwrap();
    assert!(outbox.contains(&codes[0]) && outbox.contains(&addresses[0]));
}
