//! Load benchmark of the local server: concurrent clients run full
//! generate → delivery → verify cycles over HTTP on loopback, with the real
//! SQLite store, job table and in-process workers. Reports cycles per second
//! and p50/p99 latencies.
//!
//!     cargo bench -p secure2fa --bench local_load
//!     BENCH_SECONDS=20 BENCH_CONCURRENCY=32 cargo bench -p secure2fa --bench local_load
//!
//! Delivery goes to an in-memory sink instead of the outbox file so the
//! client can pick up each code as soon as the worker sends it; everything
//! else is what `secure2fa serve` runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secure2fa::{LocalApp, LocalConfig};
use secure2fa_core::clock::SystemClock;
use secure2fa_core::crypto::payload;
use secure2fa_core::manage::NewProject;
use secure2fa_core::model::{ProjectSettings, ProviderKind, Quota};
use secure2fa_core::ports::ProjectStore;
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};
use secure2fa_core::types::{PublicKey, SecretKey};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Hands each delivered code to the client waiting for that address.
#[derive(Default)]
struct CodeSink(Mutex<HashMap<String, oneshot::Sender<String>>>);

impl CodeSink {
    fn expect(&self, to: &str) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        self.0.lock().unwrap().insert(to.to_owned(), tx);
        rx
    }
}

#[async_trait]
impl MessageSender for CodeSink {
    async fn send(
        &self,
        _: ProviderKind,
        _: &ProviderCredentials,
        m: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        let code: String =
            m.body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() >= 4).unwrap_or_default().to_owned();
        if let Some(tx) = self.0.lock().unwrap().remove(m.to.as_str()) {
            let _ = tx.send(code);
        }
        Ok(SentMessage { provider_message_id: None })
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    pk: PublicKey,
    sk: SecretKey,
}

impl Client {
    async fn post(&self, path: &str, plain: Value) -> Value {
        let data = payload::seal(&self.sk, &self.pk, plain.to_string().as_bytes());
        let body = json!({ "public_key": self.pk.as_str(), "encrypted_data": data });
        let resp = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.expect("request failed");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// CPU seconds (user + system) this process has used so far, from
/// /proc/self/stat (Linux): the server, its workers and the clients share
/// this process, so CPU time per cycle is the whole system's cost of one.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY").ok().and_then(|s| s.parse().ok()).unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let mut config = LocalConfig::new(dir.path());
    config.ip_limit_per_minute = None;
    let mut app = LocalApp::open(config, Arc::new(SystemClock)).unwrap();
    let sink = Arc::new(CodeSink::default());
    app.worker.sender = sink.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let creds = app.ensure_demo_project(&base).await.unwrap();
    // The demo project has the default quota (100 requests/s), a production
    // setting; the benchmark measures the server, so it runs on a project of
    // the same client with the largest quota.
    let demo = app.store.project(creds.project_id.parse().unwrap()).await.unwrap().unwrap();
    let quota = Quota::new(Quota::MAX_PER_SECOND, Quota::MAX_PER_SECOND * 10).unwrap();
    let (_, keys) = app
        .manage
        .create_project(
            demo.client_id,
            NewProject {
                title: "Bench".into(),
                channel_id: demo.channel_id,
                template_id: demo.template_id,
                settings: ProjectSettings { quota, ..ProjectSettings::default() },
                webhook_url: None,
                fallback: None,
            },
        )
        .await
        .unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async move {
        let _ = stop_rx.await;
    }));

    let client = Arc::new(Client {
        http: reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap(),
        base,
        pk: keys.public_key,
        sk: keys.secret_key,
    });

    let run = |duration: Duration, tag: &'static str| {
        let (client, sink) = (client.clone(), sink.clone());
        async move {
            let deadline = Instant::now() + duration;
            let tasks = (0..concurrency).map(|worker| {
                let (client, sink) = (client.clone(), sink.clone());
                tokio::spawn(async move {
                    let (mut gen_lat, mut ver_lat, mut cycle_lat) = (Vec::new(), Vec::new(), Vec::new());
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += 1;
                        let user = format!("{tag}-{worker}-{n}");
                        let to = format!("{user}@bench.example.com");
                        let code_rx = sink.expect(&to);
                        let t0 = Instant::now();
                        client.post("/otp/generate", json!({ "user_id": user, "to": to, "iat": now() })).await;
                        gen_lat.push(t0.elapsed());
                        let code = code_rx.await.expect("code delivered");
                        let t1 = Instant::now();
                        let v =
                            client.post("/otp/verify", json!({ "user_id": user, "code": code, "iat": now() })).await;
                        ver_lat.push(t1.elapsed());
                        assert_eq!(v["status"], "approved");
                        cycle_lat.push(t0.elapsed());
                    }
                    (gen_lat, ver_lat, cycle_lat)
                })
            });
            let started = Instant::now();
            let mut all = (Vec::new(), Vec::new(), Vec::new());
            for t in futures::future::join_all(tasks).await {
                let (g, v, c) = t.unwrap();
                all.0.extend(g);
                all.1.extend(v);
                all.2.extend(c);
            }
            (all, started.elapsed())
        }
    };

    run(Duration::from_secs(2), "warmup").await;
    let cpu_before = cpu_seconds();
    let ((mut gen_lat, mut ver_lat, mut cycle_lat), elapsed) = run(Duration::from_secs(seconds), "run").await;
    let cpu = cpu_seconds().zip(cpu_before).map(|(after, before)| after - before);
    gen_lat.sort();
    ver_lat.sort();
    cycle_lat.sort();
    let cycles = cycle_lat.len();
    let per_sec = cycles as f64 / elapsed.as_secs_f64();
    println!(
        "local server, {concurrency} concurrent clients, {:.1} s, {cycles} generate+deliver+verify cycles",
        elapsed.as_secs_f64()
    );
    println!("  throughput     {per_sec:>8.0} cycles/s ({:.0} API requests/s)", per_sec * 2.0);
    let cpu_per_cycle_us = cpu.map(|c| c * 1e6 / cycles as f64);
    if let (Some(c), Some(us)) = (cpu, cpu_per_cycle_us) {
        println!(
            "  CPU            {us:>8.0} us per cycle ({:.2} of {} cores busy)",
            c / elapsed.as_secs_f64(),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    println!("  generate       p50 {:>6.2} ms   p99 {:>6.2} ms", percentile(&gen_lat, 0.5), percentile(&gen_lat, 0.99));
    println!("  verify         p50 {:>6.2} ms   p99 {:>6.2} ms", percentile(&ver_lat, 0.5), percentile(&ver_lat, 0.99));
    println!(
        "  full cycle     p50 {:>6.2} ms   p99 {:>6.2} ms  (includes queue + delivery)",
        percentile(&cycle_lat, 0.5),
        percentile(&cycle_lat, 0.99)
    );
    println!(
        "{}",
        json!({
            "concurrency": concurrency, "seconds": elapsed.as_secs_f64(), "cycles": cycles, "cycles_per_second": per_sec,
            "cpu_us_per_cycle": cpu_per_cycle_us,
            "generate_ms": {"p50": percentile(&gen_lat, 0.5), "p99": percentile(&gen_lat, 0.99)},
            "verify_ms": {"p50": percentile(&ver_lat, 0.5), "p99": percentile(&ver_lat, 0.99)},
            "cycle_ms": {"p50": percentile(&cycle_lat, 0.5), "p99": percentile(&cycle_lat, 0.99)},
        })
    );
    let wal = std::fs::metadata(dir.path().join("secure2fa.db-wal")).map(|m| m.len()).unwrap_or(0);
    eprintln!("  WAL file at the end: {:.1} MiB", wal as f64 / 1048576.0);
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
