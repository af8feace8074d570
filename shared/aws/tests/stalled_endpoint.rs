//! An AWS endpoint that accepts the connection and never answers: every SDK
//! call of the service gives up within its operation timeout, long before a
//! Lambda invocation ends, and the store reports it as unavailable.

use std::time::{Duration, Instant};

use secure2fa_aws::{AwsClients, DynamoStore, emulator_config};
use secure2fa_core::ids::ClientId;
use secure2fa_core::ports::{ClientStore, StoreError};

#[tokio::test]
async fn a_stalled_endpoint_fails_the_call_within_the_operation_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accept and hold every connection, reading nothing, answering nothing.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let aws = AwsClients::new(&emulator_config(&endpoint).await, None);
    let store = DynamoStore::new(aws.dynamodb(), "secure2fa");
    let started = Instant::now();
    let call = tokio::time::timeout(Duration::from_secs(20), store.client(ClientId::generate()));
    let result = call.await.expect("the SDK call never gave up");
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    assert!(elapsed >= Duration::from_secs(2), "gave up too early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "not bounded by the operation timeout: {elapsed:?}");
}
