use std::fmt;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// A BCP-47 language tag, well-formedness checked and case-normalised
/// (`en-US`, `pt-BR`, `zh-Hant-TW`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lang(String);

impl Lang {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 35 {
            return Err(ParseError::new("lang", "must be a BCP-47 language tag such as en or pt-BR"));
        }
        let tag = language_tags::LanguageTag::parse(s)
            .map_err(|_| ParseError::new("lang", "must be a BCP-47 language tag such as en or pt-BR"))?;
        if tag.primary_language().len() > 3 {
            return Err(ParseError::new("lang", "must be a BCP-47 language tag such as en or pt-BR"));
        }
        Ok(Self(normalise(tag.as_str())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag (`pt` for `pt-BR`), used as a fallback.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

/// Conventional casing: language lower, script title, region upper.
fn normalise(tag: &str) -> String {
    tag.split('-')
        .enumerate()
        .map(|(i, part)| match (i, part.len()) {
            (0, _) => part.to_ascii_lowercase(),
            (_, 2) => part.to_ascii_uppercase(),
            (_, 4) if part.bytes().all(|b| b.is_ascii_alphabetic()) => {
                let mut s = part.to_ascii_lowercase();
                s[..1].make_ascii_uppercase();
                s
            }
            _ => part.to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join("-")
}

impl TryFrom<String> for Lang {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Lang> for String {
    fn from(l: Lang) -> String {
        l.0
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lang({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_is_normalised() {
        assert_eq!(Lang::parse("EN-us").unwrap().as_str(), "en-US");
        assert_eq!(Lang::parse("zh-hant-tw").unwrap().as_str(), "zh-Hant-TW");
        assert_eq!(Lang::parse("pt-BR").unwrap().primary(), "pt");
    }

    #[test]
    fn lang_rejects_non_tags() {
        for bad in ["", "english", "en_US", "e", "12", "en--US"] {
            assert!(Lang::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
