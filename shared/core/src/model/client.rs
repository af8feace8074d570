use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{Mac, Sealed, WrappedKey};
use crate::ids::ClientId;

/// A developer account. The email is sealed and found through a
/// deployment-wide blind index; the first client ever stored is the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: ClientId,
    pub email: Sealed,
    pub email_index: Mac,
    /// argon2id PHC string; `None` until the client sets a password.
    pub password_hash: Option<String>,
    /// Sealed TOTP secret; `None` until an authenticator is linked.
    pub totp_secret: Option<Sealed>,
    /// The last TOTP time step accepted; a step is never accepted twice.
    pub totp_last_step: Option<i64>,
    /// Sealed secret of an authenticator being enrolled, until confirmed
    /// by a code.
    pub totp_pending: Option<Sealed>,
    /// Hashes of unused backup codes.
    pub backup_codes: Vec<String>,
    pub is_admin: bool,
    /// Sessions begun under an older epoch are over (log out everywhere,
    /// password reset).
    pub session_epoch: u32,
    /// Disabled by the admin: its sessions, API tokens, API keys and
    /// projects stop answering.
    pub disabled: bool,
    pub confirmed_at: Option<UnixTime>,
    pub created_at: UnixTime,
    pub data_key: WrappedKey,
}

impl Client {
    pub const SEALED_ENTITY: &'static str = "client";
}
