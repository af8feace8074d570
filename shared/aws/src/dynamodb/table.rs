//! The table's definition, for tests and emulators. `template.yaml` declares
//! the same table for deployment (keys, the three GSIs, TTL on `ttl`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

/// `CLIENTS` → clients.
pub const GSI1: &str = "gsi1";
/// Overloaded index: `CLIENT#<id>#PROJECTS` → a client's projects.
pub const GSI2: &str = "gsi2";
/// Keys only, sharded: `PROJECT#<id>#USERS#<shard>` → a project's end
/// users. Its keys are set once, when an end user's item is created, so
/// later writes to the item cost no index write.
pub const GSI3: &str = "gsi3";
pub const TTL_ATTRIBUTE: &str = "ttl";

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("complete")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("complete")
}

fn gsi(name: &str, pk: &str, sk: &str, projection: ProjectionType) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash))
        .key_schema(key(sk, KeyType::Range))
        .projection(Projection::builder().projection_type(projection).build())
        .build()
        .expect("complete")
}

/// Creates the table (on-demand) with TTL enabled. A table already there
/// under that name is kept: it is how a retried attempt finds the table its
/// timed-out first attempt created.
pub async fn create_table(client: &Client, name: &str) -> Result<(), String> {
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"].map(attr).to_vec(),
        ))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(gsi(GSI1, "gsi1pk", "gsi1sk", ProjectionType::All))
        .global_secondary_indexes(gsi(GSI2, "gsi2pk", "gsi2sk", ProjectionType::All))
        .global_secondary_indexes(gsi(GSI3, "gsi3pk", "gsi3sk", ProjectionType::KeysOnly))
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => return Err(crate::describe(&e)),
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name(TTL_ATTRIBUTE).enabled(true).build().expect("complete"),
        )
        .send()
        .await
        .map_err(|e| crate::describe(&e))?;
    Ok(())
}
