//! AWS cost of 10,000 generate + delivery + verify cycles, computed from the
//! calls the SDK clients actually make (counted against moto) and list
//! prices (us-east-1, on-demand, after free tiers, November 2026).
//!
//!     cargo bench -p secure2fa-lambda --bench aws_cost

#[path = "../tests/support/mod.rs"]
mod support;

use secure2fa_core::model::ProjectSettings;
use serde_json::json;
use support::AwsEnv;

const CYCLES: u64 = 50;

// List prices, USD.
const DDB_PER_WRU: f64 = 0.625 / 1e6; // on-demand write request unit (≤ 1 KB)
const DDB_PER_RRU: f64 = 0.125 / 1e6; // on-demand read request unit (≤ 4 KB, strongly consistent)
const SQS_PER_REQUEST: f64 = 0.40 / 1e6; // standard queue
const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
const LAMBDA_PER_GB_SECOND_ARM: f64 = 0.000_013_333_4;
const APIGW_HTTP_PER_REQUEST: f64 = 1.00 / 1e6; // HTTP API, first 300M/month
const KMS_PER_REQUEST: f64 = 0.03 / 1e4;
const SES_PER_EMAIL: f64 = 0.10 / 1e3;

// Assumptions stated, not measured here.
const LAMBDA_MEMORY_GB: f64 = 0.25; // MemorySize 256 in template.yaml
const LAMBDA_BILLED_SECONDS: f64 = 0.025; // per invocation, AWS I/O included
const SQS_REQUESTS_PER_MESSAGE: f64 = 3.0; // send + receive + delete (batch of 1: worst case)
const INVOCATIONS_PER_CYCLE: f64 = 3.0; // generate, verify, delivery (batch of 1: worst case)
const API_REQUESTS_PER_CYCLE: f64 = 2.0;

#[tokio::main]
async fn main() {
    let env = AwsEnv::new().await;
    let keys = env.project(ProjectSettings::default(), None).await;
    env.call(&keys, "/otp/generate", json!({ "user_id": "warm", "to": "warm@example.com" })).await;
    env.worker.handle(env.receive(&env.cfg.delivery_queue_url).await).await;
    env.counter.reset();
    for i in 0..CYCLES {
        let (user, to) = (format!("user-{i}"), format!("user-{i}@example.com"));
        let (s, _) = env.call(&keys, "/otp/generate", json!({ "user_id": user, "to": to })).await;
        assert_eq!(s, 202);
        env.worker.handle(env.receive(&env.cfg.delivery_queue_url).await).await;
        let code = env.code_sent_to(&to).await;
        let (_, v) = env.call(&keys, "/otp/verify", json!({ "user_id": user, "code": code })).await;
        assert_eq!(v["status"], "approved");
    }
    let calls = env.counter.snapshot();
    let per_cycle = |k: &str| calls.get(k).copied().unwrap_or(0) as f64 / CYCLES as f64;
    let tx_items = per_cycle("dynamodb.TransactWriteItems.items");
    let plain_writes =
        per_cycle("dynamodb.PutItem") + per_cycle("dynamodb.UpdateItem") + per_cycle("dynamodb.DeleteItem");
    // Transactional writes cost two units per item.
    let wru = plain_writes + 2.0 * tx_items;
    let rru = per_cycle("dynamodb.GetItem") + per_cycle("dynamodb.Query");
    let sqs_messages = per_cycle("sqs.SendMessage");
    let kms = calls.iter().filter(|(k, _)| k.starts_with("kms.")).map(|(_, v)| *v).sum::<u64>() as f64 / CYCLES as f64;
    let emails = per_cycle("sesv2.SendEmail");

    let rows = [
        ("DynamoDB writes", wru, wru * DDB_PER_WRU, "WRU"),
        ("DynamoDB reads", rru, rru * DDB_PER_RRU, "RRU"),
        (
            "SQS",
            sqs_messages * SQS_REQUESTS_PER_MESSAGE,
            sqs_messages * SQS_REQUESTS_PER_MESSAGE * SQS_PER_REQUEST,
            "requests",
        ),
        ("Lambda requests", INVOCATIONS_PER_CYCLE, INVOCATIONS_PER_CYCLE * LAMBDA_PER_REQUEST, "invocations"),
        (
            "Lambda duration",
            INVOCATIONS_PER_CYCLE * LAMBDA_BILLED_SECONDS * LAMBDA_MEMORY_GB,
            INVOCATIONS_PER_CYCLE * LAMBDA_BILLED_SECONDS * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_ARM,
            "GB-s",
        ),
        ("API Gateway (HTTP API)", API_REQUESTS_PER_CYCLE, API_REQUESTS_PER_CYCLE * APIGW_HTTP_PER_REQUEST, "requests"),
        ("KMS (warm cache)", kms, kms * KMS_PER_REQUEST, "requests"),
    ];
    println!("AWS cost of 10,000 generate+verify cycles ({CYCLES} cycles counted on moto), list prices us-east-1:");
    println!("{:<24} {:>12} {:>12}", "", "per cycle", "USD / 10k");
    let mut total = 0.0;
    for (name, units, usd, unit) in rows {
        println!("{name:<24} {units:>8.2} {unit:<11} ${:>9.4}", usd * 1e4);
        total += usd * 1e4;
    }
    println!("{:<24} {:>20} ${total:>9.4}", "total", "");
    println!(
        "(+ email by SES: {emails:.0} per cycle, ${:.2} per 10k; Twilio Verify: $500 per 10k verifications plus channel fees)",
        emails * SES_PER_EMAIL * 1e4
    );
    println!("{}", json!({ "usd_per_10k_cycles": total, "wru_per_cycle": wru, "rru_per_cycle": rru, "calls": calls }));
    assert!(total < 0.10, "over the $0.10 per 10k cycles target: ${total:.4}");
}
