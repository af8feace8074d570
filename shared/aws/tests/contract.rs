//! The port contracts, run against the AWS adapters on a moto server that
//! this test binary starts (one table and one KMS key per test).

use std::sync::Arc;

use secure2fa_aws::dynamodb::table::create_table;
use secure2fa_aws::{AwsClients, emulator_config};
use secure2fa_aws::{DynamoStore, KmsKeyVault};
use secure2fa_contract::moto::Moto;
use secure2fa_core::crypto::KeyVault;
use secure2fa_core::ports::Store;

async fn clients() -> AwsClients {
    AwsClients::new(&emulator_config(&Moto::shared().endpoint).await, None)
}

async fn fresh_store() -> Arc<dyn Store> {
    let c = clients().await;
    let table = format!("contract-{}", ulid_like());
    create_table(&c.dynamodb(), &table).await.unwrap();
    Arc::new(DynamoStore::new(c.dynamodb(), table))
}

async fn fresh_vault() -> Arc<dyn KeyVault> {
    let c = clients().await;
    let key = c.kms().create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    Arc::new(KmsKeyVault::new(c.kms(), key))
}

fn ulid_like() -> String {
    secure2fa_core::ids::LogId::generate().to_string().to_lowercase().replace('_', "-")
}

mod dynamodb {
    use super::*;
    secure2fa_contract::store_contract_tests!(fresh_store().await);
}

mod kms {
    use super::*;
    secure2fa_contract::key_vault_contract_tests!(fresh_vault().await);
}

/// A client-wide page of logs reads a bounded number of partitions: past 16
/// projects (32 log shards each) it asks for a project filter instead of
/// fanning out; one project's page still works.
#[tokio::test]
async fn a_client_wide_log_page_over_too_many_projects_asks_for_a_project() {
    use secure2fa_contract::fixtures::{project, seeded_project};
    use secure2fa_core::model::LogFilter;
    use secure2fa_core::ports::StoreError;
    let store = fresh_store().await;
    let first = seeded_project(store.as_ref()).await;
    let page = |project_id| LogFilter { project_id, limit: 10, ..Default::default() };
    store.list_logs(first.client_id, &page(None)).await.expect("one project: a client-wide page");
    for _ in 0..16 {
        store.insert_project(&project(first.client_id, first.channel_id, first.template_id)).await.unwrap();
    }
    let refused = store.list_logs(first.client_id, &page(None)).await.unwrap_err();
    assert!(matches!(refused, StoreError::TooBroad(m) if m.contains("filter by project")), "{refused:?}");
    store.list_logs(first.client_id, &page(Some(first.id))).await.expect("one project's page");
}

/// Creating the table is repeatable: the SDK retries a CreateTable whose
/// first attempt timed out after moto created the table, and the retry must
/// find the table rather than fail (it failed the first tests on a busy CI
/// machine with "Table already exists").
#[tokio::test]
async fn creating_the_table_again_keeps_it() {
    let c = clients().await;
    let table = format!("contract-{}", ulid_like());
    create_table(&c.dynamodb(), &table).await.expect("created");
    create_table(&c.dynamodb(), &table).await.expect("found and kept");
    let store = DynamoStore::new(c.dynamodb(), table);
    secure2fa_contract::fixtures::seeded_project(&store).await;
}
