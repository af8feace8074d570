use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::ParseError;

/// Number of digits in a code: 4 to 10 (6 by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct CodeLength(u8);

impl CodeLength {
    pub const MIN: u8 = 4;
    pub const MAX: u8 = 10;

    pub fn new(n: u8) -> Result<Self, ParseError> {
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(ParseError::new("code_length", "must be between 4 and 10"))
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for CodeLength {
    fn default() -> Self {
        Self(6)
    }
}

impl TryFrom<u8> for CodeLength {
    type Error = ParseError;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}
impl From<CodeLength> for u8 {
    fn from(c: CodeLength) -> u8 {
        c.0
    }
}

/// A one-time code: ASCII digits only. Neither Debug nor Display shows it,
/// and its memory is wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize)]
#[zeroize(drop)]
pub struct OtpCode(String);

impl OtpCode {
    /// A fresh code from the operating system's CSPRNG. Each digit is drawn
    /// uniformly (rejection sampling inside `gen_range`), so there is no
    /// modulo bias.
    pub fn generate(length: CodeLength) -> Self {
        let mut rng = rand::rngs::OsRng;
        let code = (0..length.get()).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
        Self(code)
    }

    /// A code as typed by an end user. Surrounding whitespace is forgiven.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if !(CodeLength::MIN as usize..=CodeLength::MAX as usize).contains(&s.len()) {
            return Err(ParseError::new("code", "must be 4 to 10 digits"));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new("code", "must contain digits only"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The digits, for sealing into a delivery job or rendering a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_codes_have_requested_length_and_digits_only() {
        for n in CodeLength::MIN..=CodeLength::MAX {
            let code = OtpCode::generate(CodeLength::new(n).unwrap());
            assert_eq!(code.expose().len(), n as usize);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn code_length_outside_4_to_10_is_rejected() {
        assert!(CodeLength::new(3).is_err());
        assert!(CodeLength::new(11).is_err());
    }

    #[test]
    fn generated_digits_are_roughly_uniform() {
        let mut counts = [0u32; 10];
        for _ in 0..2000 {
            for b in OtpCode::generate(CodeLength::new(10).unwrap()).expose().bytes() {
                counts[(b - b'0') as usize] += 1;
            }
        }
        // 20,000 digits: each expected 2,000; a fair source stays well within ±15%.
        for (digit, c) in counts.iter().enumerate() {
            assert!((1700..2300).contains(c), "digit {digit} drawn {c} times");
        }
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = OtpCode::parse("123456").unwrap();
        assert!(!format!("{code:?}").contains("123456"));
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_4_to_10_digits(s in "\\PC{0,14}") {
            let ok = (4..=10).contains(&s.trim().len()) && s.trim().bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(OtpCode::parse(&s).is_ok(), ok);
        }
    }
}
