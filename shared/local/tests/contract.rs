//! The port contracts, run against the embedded adapters.

use std::sync::Arc;

use secure2fa_core::crypto::KeyVault;
use secure2fa_core::ports::Store;
use secure2fa_local::{Db, LocalKeyVault, SqliteStore};

mod sqlite_in_memory {
    use super::*;
    secure2fa_contract::store_contract_tests!(Arc::new(SqliteStore::new(Db::in_memory().unwrap())) as Arc<dyn Store>);
}

/// The same suite on a file in WAL mode, as the local server runs it.
mod sqlite_file {
    use super::*;
    secure2fa_contract::store_contract_tests!({
        let dir = tempfile::tempdir().unwrap().keep();
        Arc::new(SqliteStore::new(Db::open(&dir.join("store.db")).unwrap())) as Arc<dyn Store>
    });
}

mod master_key_vault {
    use super::*;
    secure2fa_contract::key_vault_contract_tests!({
        let dir = tempfile::tempdir().unwrap().keep();
        Arc::new(LocalKeyVault::open_or_create(&dir.join("master.key")).unwrap()) as Arc<dyn KeyVault>
    });
}
