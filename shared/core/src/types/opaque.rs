use std::fmt;

use serde::{Deserialize, Serialize};

use super::ParseError;

fn check_opaque(field: &'static str, s: &str) -> Result<(), ParseError> {
    if s.is_empty() {
        return Err(ParseError::new(field, "must not be empty"));
    }
    if s.len() > 256 {
        return Err(ParseError::new(field, "longer than 256 bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(ParseError::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// The client's own identifier for its end user. Opaque to us, sealed at
/// rest, looked up through a blind index; never logged.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_opaque("user_id", s)?;
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<UserId> for String {
    fn from(u: UserId) -> String {
        u.0
    }
}
impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserId(<redacted>)")
    }
}

/// An opaque device fingerprint chosen by the client; verify must present
/// the same one that generate did. Stored only as a keyed MAC.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Device(String);

impl Device {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_opaque("device", s)?;
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Device {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<Device> for String {
    fn from(d: Device) -> String {
        d.0
    }
}
impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Device(<redacted>)")
    }
}
