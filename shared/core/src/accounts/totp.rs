//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step either side) with
//! `totp-rs`, and the enrolment QR code as SVG with `qrcode`.

use qrcode::QrCode;
use qrcode::render::svg;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

use crate::clock::UnixTime;

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Secure-2FA";

/// A TOTP secret (160 random bits, RFC 4226's recommendation).
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut b = Zeroizing::new(vec![0u8; 20]);
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(b)
    }

    pub fn from_bytes(b: Zeroizing<Vec<u8>>) -> Self {
        Self(b)
    }

    /// A secret as an authenticator app takes it (base32, RFC 4648).
    pub fn from_base32(text: &str) -> Option<Self> {
        let raw = Secret::Encoded(text.trim().to_ascii_uppercase()).to_bytes().ok()?;
        (raw.len() >= 16).then(|| Self(Zeroizing::new(raw)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, account: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            1,
            STEP_SECONDS,
            self.0.to_vec(),
            Some(ISSUER.to_owned()),
            account.to_owned(),
        )
    }

    /// Base32, as typed into an authenticator by hand.
    pub fn base32(&self) -> Zeroizing<String> {
        Zeroizing::new(Secret::Raw(self.0.to_vec()).to_encoded().to_string())
    }

    /// `otpauth://totp/Secure-2FA:<account>?secret=...&issuer=Secure-2FA`.
    pub fn otpauth_uri(&self, account: &str) -> Zeroizing<String> {
        Zeroizing::new(self.totp(account).get_url())
    }

    /// The otpauth URI as a QR code, an SVG document.
    pub fn qr_svg(&self, account: &str) -> String {
        let code = QrCode::new(self.otpauth_uri(account).as_bytes()).expect("an otpauth URI fits in a QR code");
        code.render::<svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build()
    }

    /// The code of time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp("").generate(step.max(0) as u64 * STEP_SECONDS)
    }

    /// The time step `code` belongs to among the current one and one either
    /// side, if any and later than `after` (a step is never accepted twice).
    pub fn matching_step(&self, code: &str, now: UnixTime, after: Option<i64>) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now.div_euclid(STEP_SECONDS as i64);
        // Every candidate is compared (constant time), the latest match wins.
        let mut found = None;
        for step in current - 1..=current + 1 {
            if bool::from(self.code_at_step(step).as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found.filter(|s| after.is_none_or(|a| *s > a))
    }
}

/// The step a code computed at `now` belongs to.
pub fn step_at(now: UnixTime) -> i64 {
    now.div_euclid(STEP_SECONDS as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vector() {
        // RFC 6238 appendix B: the 20-byte ASCII secret "12345678901234567890",
        // T = 59 s gives 94287082 (8 digits); its last 6 digits are ours.
        let s = TotpSecret::from_bytes(Zeroizing::new(b"12345678901234567890".to_vec()));
        assert_eq!(s.code_at_step(step_at(59)), "287082");
        assert_eq!(s.code_at_step(step_at(1_111_111_109)), "081804");
    }

    #[test]
    fn one_step_either_side_and_never_twice() {
        let s = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = step_at(now);
        assert_eq!(s.matching_step(&s.code_at_step(step), now, None), Some(step));
        assert_eq!(s.matching_step(&s.code_at_step(step - 1), now, None), Some(step - 1));
        assert_eq!(s.matching_step(&s.code_at_step(step + 1), now, None), Some(step + 1));
        assert_eq!(s.matching_step(&s.code_at_step(step - 2), now, None), None);
        assert_eq!(s.matching_step(&s.code_at_step(step), now, Some(step)), None, "a used step");
        assert_eq!(s.matching_step(&s.code_at_step(step - 1), now, Some(step)), None, "an older step");
        assert_eq!(s.matching_step("12345", now, None), None);
        assert_eq!(s.matching_step("abcdef", now, None), None);
    }

    #[test]
    fn enrolment_uri_and_qr() {
        let s = TotpSecret::generate();
        let uri = s.otpauth_uri("alice@example.com");
        assert!(uri.starts_with("otpauth://totp/Secure-2FA:alice%40example.com?"), "{}", *uri);
        assert!(uri.contains(&format!("secret={}", *s.base32())));
        assert_eq!(TotpSecret::from_base32(&s.base32()).unwrap().as_bytes(), s.as_bytes());
        let svg = s.qr_svg("alice@example.com");
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
