//! AWS adapters for Secure-2FA: the DynamoDB single-table store, the KMS key
//! vault, the SQS job queue, the SES email sender and deployment secrets from
//! Secrets Manager, plus a call counter for the cost and hot-path budgets.
//!
//! Every client honours `AWS_ENDPOINT_URL` (the SDK reads it), which is how
//! the tests point them at moto.

pub mod call_counter;
pub mod clients;
pub mod dynamodb;
pub mod kms;
pub mod secrets;
pub mod ses;
pub mod sqs;

pub use call_counter::CallCounter;
pub use clients::{AwsClients, emulator_config};
pub use dynamodb::{DynamoQuotas, DynamoStore};
pub use kms::KmsKeyVault;
pub use ses::SesSender;
pub use sqs::{SqsJobQueue, SqsQueueAdmin};

/// Formats an SDK error with its whole cause chain (never request data).
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}
