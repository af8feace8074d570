//! The `secure2fa` binary killed with SIGKILL (no shutdown, no flush): what
//! it acknowledged before is there after a restart on the same directory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secure2fa_core::crypto::payload;
use secure2fa_core::types::{PublicKey, SecretKey};
use serde_json::{Value, json};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server on `dir` and waits for it to write its credentials
/// file (with its new address when restarted).
fn start(dir: &Path) -> (Server, Value) {
    let creds_path = dir.join("dev-credentials.json");
    let before = std::fs::read_to_string(&creds_path).ok();
    let child = Command::new(env!("CARGO_BIN_EXE_secure2fa"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    for _ in 0..300 {
        if let Some(text) = std::fs::read_to_string(&creds_path).ok().filter(|t| Some(t) != before.as_ref())
            && let Ok(creds) = serde_json::from_str::<Value>(&text)
        {
            return (server, creds);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not start");
}

async fn call(http: &reqwest::Client, creds: &Value, path: &str, mut plain: Value) -> Value {
    let pk = PublicKey::parse(creds["public_key"].as_str().unwrap()).unwrap();
    let sk = SecretKey::from_base64(creds["secret_key"].as_str().unwrap()).unwrap();
    plain["iat"] = json!(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs());
    let data = payload::seal(&sk, &pk, plain.to_string().as_bytes());
    let url = format!("{}{path}", creds["base_url"].as_str().unwrap());
    let resp = http.post(url).json(&json!({"public_key": pk.as_str(), "encrypted_data": data})).send().await.unwrap();
    resp.json().await.unwrap()
}

#[tokio::test]
async fn what_was_acknowledged_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (mut server, creds) = start(dir.path());
    // Acknowledged: a code sent (delivered to the outbox by the workers) and
    // one wrong guess counted.
    let generated = call(&http, &creds, "/otp/generate", json!({"user_id": "k", "to": "kill@example.com"})).await;
    assert_eq!(generated["status"], "pending", "{generated}");
    let outbox = format!("{}?limit=10", creds["outbox_url"].as_str().unwrap());
    let mut code = None;
    for _ in 0..100 {
        let messages: Value = http.get(&outbox).send().await.unwrap().json().await.unwrap();
        if let Some(m) = messages.as_array().unwrap().iter().find(|m| m["to"] == "kill@example.com") {
            let body = m["body"].as_str().unwrap();
            code = body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() >= 4).map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let code = code.expect("the code reached the outbox");
    let wrong = if code.starts_with('0') { code.replacen('0', "1", 1) } else { code.replacen(|_| true, "0", 1) };
    let answer = call(&http, &creds, "/otp/verify", json!({"user_id": "k", "code": wrong})).await;
    assert_eq!(answer["attempts_left"], 4, "{answer}");

    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    let before = creds.clone();
    let (_server, creds) = start(dir.path());
    assert_eq!(creds["public_key"], before["public_key"], "the same demo project");
    // The guess stayed counted, and the code is still the pending one.
    let answer = call(&http, &creds, "/otp/verify", json!({"user_id": "k", "code": wrong})).await;
    assert_eq!(answer["attempts_left"], 3, "{answer}");
    let answer = call(&http, &creds, "/otp/verify", json!({"user_id": "k", "code": code})).await;
    assert_eq!(answer["status"], "approved", "{answer}");
    let replay = call(&http, &creds, "/otp/verify", json!({"user_id": "k", "code": code})).await;
    assert_ne!(replay["status"], "approved", "{replay}");
}

/// A second server on the same data directory refuses to start (it would
/// release the first one's delivery claims and send codes twice); once the
/// first is gone, even killed, the directory is free.
#[tokio::test]
async fn one_data_directory_serves_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, _) = start(dir.path());
    let second = Command::new(env!("CARGO_BIN_EXE_secure2fa"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!second.status.success(), "a second server started on the same directory");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another secure2fa process is serving"), "{stderr}");

    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let (_again, creds) = start(dir.path());
    assert!(creds["base_url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
}
