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

/// Every byte of the database files.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["secure2fa.db", "secure2fa.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            all.extend(b);
        }
    }
    assert!(all.len() > 10_000, "database files are unexpectedly small");
    all
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
                fallback: None,
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
    let raw = database_bytes(t.dir.path());
    let db = String::from_utf8_lossy(&raw).into_owned();
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
    // Every secret and key as raw bytes, not only as text: the payload keys,
    // the master key, the blind-index key, and every unwrapped data key.
    use secure2fa_core::crypto::KeyContext;
    let mut keys_raw: Vec<(String, Vec<u8>)> = vec![
        ("project secret key".into(), keys.secret_key.expose().to_vec()),
        ("demo secret key".into(), t.secret().expose().to_vec()),
        ("master key".into(), std::fs::read(t.dir.path().join("master.key")).unwrap()),
        ("blind-index key".into(), t.app.manage.index_key.expose().to_vec()),
    ];
    for c in t.app.store.list_clients().await.unwrap() {
        let key = t.app.keys.get(&KeyContext::client(c.id), &c.data_key).await.unwrap();
        keys_raw.push((format!("data key of {}", c.id), key.expose_raw().to_vec()));
        for p in t.app.store.list_projects(c.id).await.unwrap() {
            let key = t.app.keys.get(&KeyContext::project(p.id), &p.data_key).await.unwrap();
            keys_raw.push((format!("data key of {}", p.id), key.expose_raw().to_vec()));
        }
    }
    assert!(keys_raw.len() >= 7, "two clients' projects and keys were checked");
    for (label, bytes) in &keys_raw {
        assert!(bytes.len() >= 32, "{label}: {} bytes", bytes.len());
        assert!(!holds(&raw, bytes), "{label} found as raw bytes in the database");
        use base64::Engine as _;
        let hex = hex::encode(bytes);
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(!db.contains(&hex) && !db.contains(&b64), "{label} found encoded in the database");
    }
    // The check can fail: the outbox (a development sink) does hold them.
    let outbox = std::fs::read_to_string(t.dir.path().join("outbox.jsonl")).unwrap();
    assert!(outbox.contains(&codes[0]) && outbox.contains(&addresses[0]));
}

/// Every file the server writes is readable by its owner only, the SQLite
/// files included; a data directory it creates is 0700, and one that
/// already existed keeps the mode its owner gave it.
#[cfg(unix)]
#[tokio::test]
async fn every_file_in_the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let t = spawn_app().await;
    t.send_code("u", "files@example.com").await;
    let dir = t.dir.path().to_owned();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{} is {:o}", path.display(), mode(&path));
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    for expected in ["secure2fa.db", "secure2fa.db-wal", "master.key", "secrets.json", "outbox.jsonl"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }

    let parent = tempfile::tempdir().unwrap();
    let fresh = parent.path().join("new-data-dir");
    LocalApp::open(secure2fa::LocalConfig::new(&fresh), t.clock.clone()).unwrap();
    assert_eq!(mode(&fresh), 0o700, "a directory the server creates");
    let shared = parent.path().join("existing");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    LocalApp::open(secure2fa::LocalConfig::new(&shared), t.clock.clone()).unwrap();
    assert_eq!(mode(&shared), 0o755, "an existing directory keeps its owner's mode");
}

/// Locally, a periodic sweep stands in for DynamoDB's TTL: send counters go
/// once their window has ended, log entries after the retention period.
#[tokio::test]
async fn expired_log_entries_and_send_counters_are_swept() {
    use secure2fa_core::model::{LOG_RETENTION_SECONDS, LogFilter};
    use secure2fa_core::ports::LogStore;
    let t = spawn_app().await;
    t.send_code("u", "sweep@example.com").await;
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let logs = || async {
        t.app.store.list_logs(client.id, &LogFilter { limit: 100, ..Default::default() }).await.unwrap().entries
    };
    let written = logs().await.len() as u64;
    assert!(written > 0);
    assert_eq!(t.app.sweep_expired().await.unwrap(), (0, 0), "nothing expired yet");
    t.clock.advance(3600);
    assert_eq!(t.app.sweep_expired().await.unwrap(), (0, 1), "the hour's send counter");
    t.clock.advance(LOG_RETENTION_SECONDS);
    assert_eq!(t.app.sweep_expired().await.unwrap(), (written, 0));
    assert!(logs().await.is_empty());
}
