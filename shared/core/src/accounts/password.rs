//! Passwords: NIST SP 800-63B rules (12 to 128 characters, no composition
//! rules, refused when common) and argon2id hashing with OWASP's parameters.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::types::ParseError;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// The 30,000 most common passwords of the zxcvbn project's frequency list
/// (MIT licence, Dropbox), lowercased: shipped with the code, never
/// downloaded.
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().filter(|l| !l.is_empty()).collect());

/// A password that passed the policy; zeroed on drop, never printed.
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Checks a new password against the policy. `context` holds words an
    /// attacker would try first for this account (its email's local part,
    /// the service's name): a password made of one of them is refused.
    pub fn new(candidate: &str, context: &[&str]) -> Result<Self, ParseError> {
        let chars = candidate.chars().count();
        if chars < MIN_CHARS {
            return Err(ParseError::new("password", "must be at least 12 characters"));
        }
        if chars > MAX_CHARS {
            return Err(ParseError::new("password", "must be at most 128 characters"));
        }
        if candidate.chars().any(char::is_control) {
            return Err(ParseError::new("password", "must not contain control characters"));
        }
        if is_guessable(candidate, context) {
            return Err(ParseError::new(
                "password",
                "is too easy to guess (a common password, a repeated or sequential pattern, or your email)",
            ));
        }
        Ok(Self(Zeroizing::new(candidate.to_owned())))
    }

    /// A password presented at sign-in: not checked against the policy (the
    /// policy may have changed since it was set), only bounded.
    pub fn presented(candidate: &str) -> Option<Self> {
        (candidate.chars().count() <= MAX_CHARS).then(|| Self(Zeroizing::new(candidate.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Common passwords, alone or with a few digits or symbols around them
/// ("dragon123456", "!!password2024"); one character or a short pattern
/// repeated ("aaaaaaaaaaaa", "abcabcabcabc"); runs of sequential characters
/// ("123456789012", "abcdefghijkl"); the context words.
fn is_guessable(candidate: &str, context: &[&str]) -> bool {
    let lower = candidate.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return true;
    }
    let core = lower.trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c == ' ');
    if core.chars().count() >= 4 && lower.chars().count() - core.chars().count() <= 8 && COMMON.contains(core) {
        return true;
    }
    for word in context {
        let word = word.to_lowercase();
        if word.chars().count() >= 4 && (core == word || lower == word) {
            return true;
        }
    }
    let chars: Vec<char> = lower.chars().collect();
    // A pattern of up to 4 characters repeated.
    if (1..=4).any(|n| chars.len().is_multiple_of(n) && chars.chunks(n).all(|c| c == &chars[..n])) {
        return true;
    }
    sequential(&chars)
}

/// Ascending or descending by one all along ("abcdefghijkl", "123456789012",
/// "9876543210987": digits wrap around).
fn sequential(chars: &[char]) -> bool {
    let diff = |a: char, b: char| {
        if a.is_ascii_digit() && b.is_ascii_digit() { (b as i32 - a as i32 + 10) % 10 } else { b as i32 - a as i32 }
    };
    let d: Vec<i32> = chars.windows(2).map(|w| diff(w[0], w[1])).collect();
    d.iter().all(|&x| x == 1) || d.iter().all(|&x| x == -1 || x == 9)
}

/// argon2id with OWASP's first recommended configuration: 19 MiB, 2
/// passes, 1 lane (see the README for the time one hash takes).
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self { params: Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters") }
    }
}

/// Hashes running at once in this process: each takes 19 MiB and a core,
/// so a flood of sign-ins queues here instead of exhausting memory.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// A fixed hash verified when the email is unknown, so that the answer
/// takes as long as for a known one.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    PasswordHasher::default().hash_blocking(&Password(Zeroizing::new("not a password anyone has".into())))
});

impl PasswordHasher {
    /// Cheap parameters for tests that hash many passwords; never in production.
    pub fn insecure_fast_for_tests() -> Self {
        Self { params: Params::new(8, 1, 1, None).expect("valid argon2 parameters") }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string (`$argon2id$v=19$m=...`), with a fresh salt.
    pub fn hash_blocking(&self, password: &Password) -> String {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2().hash_password(password.expose().as_bytes(), &salt).expect("argon2 hashes any input").to_string()
    }

    /// Whether `password` matches `hash` (its own parameters are used); a
    /// `None` hash (no password set, unknown account) costs the same time
    /// and never matches.
    pub fn verify_blocking(&self, password: &Password, hash: Option<&str>) -> bool {
        let (hash, real) = match hash {
            Some(h) => (h, true),
            None => (DUMMY_HASH.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else { return false };
        self.argon2().verify_password(password.expose().as_bytes(), &parsed).is_ok() && real
    }

    pub async fn hash(&self, password: &Password) -> String {
        let _slot = HASHING.acquire().await.expect("never closed");
        let (this, pw) = (self.clone(), Password(password.0.clone()));
        tokio::task::spawn_blocking(move || this.hash_blocking(&pw)).await.expect("hashing does not panic")
    }

    pub async fn verify(&self, password: &Password, hash: Option<&str>) -> bool {
        let _slot = HASHING.acquire().await.expect("never closed");
        let (this, pw, hash) = (self.clone(), Password(password.0.clone()), hash.map(str::to_owned));
        tokio::task::spawn_blocking(move || this.verify_blocking(&pw, hash.as_deref())).await.expect("no panic")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nist_rules() {
        for bad in [
            "short",
            "elevenchars",
            "password1234",
            "123456789012",
            "abcdefghijkl",
            "aaaaaaaaaaaa",
            "abcabcabcabc",
            "Dragon123456",
            "!!iloveyou2024",
            "1qaz2wsx3edc",
            "9876543210987",
        ] {
            assert!(Password::new(bad, &[]).is_err(), "{bad} must be refused");
        }
        assert!(Password::new("alice.smith1", &["alice.smith"]).is_err(), "the email's local part");
        assert!(Password::new(&"x".repeat(129), &[]).is_err());
        for good in ["correct horse battery staple", "Tr0ub4dor&3xyz", "zvmq-pltk-hhwa", "ééééüüüüßßßß🙂"]
        {
            assert!(Password::new(good, &[]).is_ok(), "{good} must be accepted: no composition rules");
        }
        // 128 characters, multi-byte, is fine; the limit counts characters.
        let long: String = (0..128).map(|i| char::from_u32(0x4E00 + i * 7).unwrap()).collect();
        assert!(Password::new(&long, &[]).is_ok());
        assert!(Password::new(&format!("{long}x"), &[]).is_err());
    }

    #[test]
    fn argon2id_with_owasp_parameters() {
        let hasher = PasswordHasher::default();
        let pw = Password::new("correct horse battery staple", &[]).unwrap();
        let hash = hasher.hash_blocking(&pw);
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify_blocking(&pw, Some(&hash)));
        let other = Password::presented("correct horse battery stapl").unwrap();
        assert!(!hasher.verify_blocking(&other, Some(&hash)));
        assert!(!hasher.verify_blocking(&pw, None), "no hash never matches");
        assert!(!hasher.verify_blocking(&pw, Some("garbage")));
        assert_ne!(hash, hasher.hash_blocking(&pw), "a fresh salt every time");
    }
}
