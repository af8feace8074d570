//! The delivery lease sits between the worker's timeout and the queue's
//! visibility timeout (see `DELIVERY_LEASE_SECONDS`): a worker cannot run
//! past its lease, and a message redelivered after a crash finds the lease
//! over. Checked on `template.yaml` itself.

use secure2fa_core::otp::{DELIVERY_LEASE_SECONDS, SEND_DEADLINE};
use serde_norway::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn number(v: &Value, what: &str) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{what} is not a number: {v:?}"))
}

#[test]
fn delivery_lease_sits_between_function_timeout_and_visibility() {
    let t = template();
    let resources = &t["Resources"];
    let worker = &resources["DeliveryWorkerFunction"]["Properties"];
    let timeout = worker.get("Timeout").unwrap_or(&t["Globals"]["Function"]["Timeout"]);
    let timeout = number(timeout, "the delivery worker's Timeout");
    let visibility = number(&resources["DeliveryQueue"]["Properties"]["VisibilityTimeout"], "VisibilityTimeout");
    let lease = u64::from(DELIVERY_LEASE_SECONDS);
    assert!(timeout + 5 <= lease, "worker timeout {timeout} s must end well before the {lease} s lease");
    let deadline = SEND_DEADLINE.as_secs();
    assert!(deadline + 5 <= timeout, "a send cut at {deadline} s must leave the worker time to release its claim");
    assert!(lease + 10 <= visibility, "the {lease} s lease must end well before the {visibility} s visibility timeout");
}
