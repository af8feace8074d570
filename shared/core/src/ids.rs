//! Identifiers: a short type prefix and a ULID (`prj_01J...`). ULIDs sort by
//! creation time, which log listings rely on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind} id")]
pub struct InvalidId {
    pub kind: &'static str,
}

/// ULIDs from one process-wide generator, so that ids minted within the
/// same millisecond still sort in creation order (log listings rely on it).
fn monotonic_ulid() -> ulid::Ulid {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut g = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    // Overflow needs 2^80 ids in one millisecond; fall back rather than fail.
    g.get_or_insert_with(ulid::Generator::new).generate().unwrap_or_else(|_| ulid::Ulid::new())
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ulid::Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(monotonic_ulid())
            }

            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                s.strip_prefix(concat!($prefix, "_"))
                    .and_then(|rest| ulid::Ulid::from_string(rest).ok())
                    .map(Self)
                    .ok_or(InvalidId { kind: $prefix })
            }

            /// The id's 16 bytes (its ULID), as [`Self::from_bytes`] takes them.
            pub fn to_bytes(&self) -> [u8; 16] {
                self.0.to_bytes()
            }

            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(ulid::Ulid::from_bytes(bytes))
            }

            /// Milliseconds since the epoch at which the id was minted.
            pub fn timestamp_ms(&self) -> u64 {
                self.0.timestamp_ms()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A client: a developer account.
    ClientId,
    "cli"
);
prefixed_id!(
    /// A delivery channel (provider + credentials).
    ChannelId,
    "chn"
);
prefixed_id!(
    /// A message template with one version per language.
    TemplateId,
    "tpl"
);
prefixed_id!(
    /// A project: one place in a client's app that uses 2FA.
    ProjectId,
    "prj"
);
prefixed_id!(
    /// One generated code and its checks.
    VerificationId,
    "ver"
);
prefixed_id!(
    /// A log entry.
    LogId,
    "log"
);
prefixed_id!(
    /// A client's API token.
    TokenId,
    "tok"
);

prefixed_id!(
    /// A webhook event.
    EventId,
    "evt"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips_through_text() {
        let id = ProjectId::generate();
        let text = id.to_string();
        assert!(text.starts_with("prj_"));
        assert_eq!(ProjectId::parse(&text).unwrap(), id);
    }

    #[test]
    fn ids_minted_together_sort_in_creation_order() {
        let ids: Vec<LogId> = (0..1000).map(|_| LogId::generate()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(
            ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().windows(2).filter(|w| w[0] >= w[1]).count(),
            0
        );
    }

    #[test]
    fn id_with_wrong_prefix_is_rejected() {
        let id = ProjectId::generate().to_string().replacen("prj", "cli", 1);
        assert!(ProjectId::parse(&id).is_err());
        assert!(ClientId::parse(&id).is_ok());
        assert!(ProjectId::parse("prj_not-a-ulid").is_err());
    }
}
