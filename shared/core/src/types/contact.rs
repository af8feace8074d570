use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// An email address, syntax checked (RFC 5322 via `email_address`), domain
/// lower-cased. Debug output is redacted: it is personal data.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.len() > 254 {
            return Err(ParseError::new("email", "longer than 254 characters"));
        }
        let parsed = email_address::EmailAddress::from_str(s)
            .map_err(|_| ParseError::new("email", "not a valid email address"))?;
        // Display names ("Ann <a@b>") are not addresses we send to.
        if parsed.as_str() != s || s.contains(['<', '>', ' ']) {
            return Err(ParseError::new("email", "not a valid email address"));
        }
        let (local, domain) = (parsed.local_part(), parsed.domain());
        if !domain.contains('.') && domain != "localhost" {
            return Err(ParseError::new("email", "domain must be fully qualified"));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness and blind indexes: fully lower-cased.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for Email {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// A phone number in E.164 form (`+14155550100`), validated against the
/// libphonenumber metadata.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if !s.starts_with('+') || s.len() > 16 || !s[1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new("phone", "must be in E.164 form, e.g. +14155550100"));
        }
        let number = phonenumber::parse(None, s).map_err(|_| ParseError::new("phone", "not a valid phone number"))?;
        if !phonenumber::is_valid(&number) {
            return Err(ParseError::new("phone", "not a valid phone number"));
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(<redacted>)")
    }
}

/// Where a code goes: the kind follows the project's channel.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Recipient {
    Email(Email),
    Phone(PhoneNumber),
}

impl Recipient {
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::Email(e) => e.as_str(),
            Recipient::Phone(p) => p.as_str(),
        }
    }

    /// The string a blind index is computed over.
    pub fn canonical(&self) -> String {
        match self {
            Recipient::Email(e) => e.canonical(),
            Recipient::Phone(p) => p.as_str().to_owned(),
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recipient(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_domain_is_lowercased_and_local_part_kept() {
        let e = Email::parse("Ann.Lee@Example.COM").unwrap();
        assert_eq!(e.as_str(), "Ann.Lee@example.com");
        assert_eq!(e.canonical(), "ann.lee@example.com");
    }

    #[test]
    fn email_rejects_garbage_and_display_names() {
        for bad in ["", "no-at-sign", "a@", "@b.com", "Ann <a@b.com>", "a@b", "a b@c.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn email_debug_is_redacted() {
        let e = Email::parse("secret.person@example.com").unwrap();
        assert!(!format!("{e:?}").contains("secret"));
    }

    #[test]
    fn phone_must_be_valid_e164() {
        assert_eq!(PhoneNumber::parse("+14155552671").unwrap().as_str(), "+14155552671");
        assert_eq!(PhoneNumber::parse("+447911123456").unwrap().as_str(), "+447911123456");
        for bad in ["4155552671", "+1", "+1415555267a", "+999999999999", "+1 415 555 2671", ""] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
