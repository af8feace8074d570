//! Parsing of decrypted request plaintexts. Field by field from a JSON value,
//! so that error messages name the field and the rule but never echo a value
//! (serde's own messages would quote it).

use serde_json::{Map, Value};

use crate::error::RequestError;
use crate::types::{Device, Lang, OtpCode, UserId};

/// Upper bound on plaintext size: requests are a few hundred bytes.
pub const MAX_PLAINTEXT_BYTES: usize = 8 * 1024;

pub struct GenerateRequest {
    pub user_id: UserId,
    /// Parsed against the project's channel by the caller.
    pub to: String,
    pub lang: Option<Lang>,
    pub device: Option<Device>,
    pub template_request: bool,
    pub iat: i64,
}

pub struct VerifyRequest {
    pub user_id: UserId,
    pub code: OtpCode,
    pub device: Option<Device>,
    pub iat: i64,
}

fn object(plaintext: &[u8]) -> Result<Map<String, Value>, RequestError> {
    if plaintext.len() > MAX_PLAINTEXT_BYTES {
        return Err(RequestError::Invalid("decrypted payload is larger than 8 KiB".into()));
    }
    match serde_json::from_slice::<Value>(plaintext) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(RequestError::Invalid("decrypted payload must be a JSON object".into())),
        Err(_) => Err(RequestError::Invalid("decrypted payload is not valid UTF-8 JSON".into())),
    }
}

fn optional_str<'a>(map: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, RequestError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RequestError::Invalid(format!("{field} must be a string"))),
    }
}

fn required_str<'a>(map: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, RequestError> {
    optional_str(map, field)?.ok_or_else(|| RequestError::Invalid(format!("{field} is required")))
}

fn iat(map: &Map<String, Value>) -> Result<i64, RequestError> {
    match map.get("iat") {
        None | Some(Value::Null) => Err(RequestError::Invalid("iat is required".into())),
        Some(Value::Number(n)) => {
            n.as_i64().ok_or_else(|| RequestError::Invalid("iat must be an integer number of unix seconds".into()))
        }
        Some(_) => Err(RequestError::Invalid("iat must be an integer number of unix seconds".into())),
    }
}

pub fn parse_generate(plaintext: &[u8]) -> Result<GenerateRequest, RequestError> {
    let map = object(plaintext)?;
    let template_request = match map.get("template_request") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(RequestError::Invalid("template_request must be a boolean".into())),
    };
    Ok(GenerateRequest {
        user_id: UserId::parse(required_str(&map, "user_id")?)?,
        to: required_str(&map, "to")?.to_owned(),
        lang: optional_str(&map, "lang")?.map(Lang::parse).transpose()?,
        device: optional_str(&map, "device")?.map(Device::parse).transpose()?,
        template_request,
        iat: iat(&map)?,
    })
}

pub fn parse_verify(plaintext: &[u8]) -> Result<VerifyRequest, RequestError> {
    let map = object(plaintext)?;
    Ok(VerifyRequest {
        user_id: UserId::parse(required_str(&map, "user_id")?)?,
        code: OtpCode::parse(required_str(&map, "code")?)?,
        device: optional_str(&map, "device")?.map(Device::parse).transpose()?,
        iat: iat(&map)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(r: Result<GenerateRequest, RequestError>) -> String {
        match r {
            Err(RequestError::Invalid(m)) => m,
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn generate_fields_are_checked_one_by_one_without_echoing_values() {
        assert_eq!(msg(parse_generate(br#"{"to":"a@b.co","iat":1}"#)), "user_id is required");
        assert_eq!(msg(parse_generate(br#"{"user_id":"u","iat":1}"#)), "to is required");
        assert_eq!(
            msg(parse_generate(br#"{"user_id":"u","to":"x","iat":"soon"}"#)),
            "iat must be an integer number of unix seconds"
        );
        let m = msg(parse_generate(br#"{"user_id":"u","to":"x","iat":1,"lang":"Klingon-language-please"}"#));
        assert!(m.starts_with("lang:"), "{m}");
        assert!(!m.contains("Klingon"));
        assert_eq!(msg(parse_generate(b"[1,2]")), "decrypted payload must be a JSON object");
        assert_eq!(msg(parse_generate(b"\xff\xfe")), "decrypted payload is not valid UTF-8 JSON");
    }

    #[test]
    fn verify_requires_a_numeric_code() {
        assert!(parse_verify(br#"{"user_id":"u","code":"12ab56","iat":1}"#).is_err());
        let v = parse_verify(br#"{"user_id":"u","code":" 123456 ","iat":1,"device":"d"}"#).unwrap();
        assert_eq!(v.code.expose(), "123456");
        assert!(v.device.is_some());
    }

    proptest! {
        #[test]
        fn arbitrary_plaintext_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_generate(&bytes);
            let _ = parse_verify(&bytes);
        }
    }
}
