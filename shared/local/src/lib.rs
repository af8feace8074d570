//! Embedded adapters for running Secure-2FA on one machine: a SQLite store
//! (one file, WAL), a durable job table polled by in-process workers, a
//! master key file that wraps data keys, deployment secrets in a file, and an
//! outbox "provider" that keeps messages for viewing.
//!
//! Must not depend on the AWS SDK: the local server builds without it.

mod db;
pub mod files;
pub mod jobs;
pub mod key_vault;
pub mod outbox;
pub mod store;

pub use db::Db;
pub use jobs::{ClaimedJob, JOB_LEASE_SECONDS, LocalJobQueue, QueueStats};
pub use key_vault::LocalKeyVault;
pub use outbox::{Outbox, OutboxMessage};
pub use store::SqliteStore;
