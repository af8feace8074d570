//! Attribute value helpers: building items and reading them back, with a
//! missing or mistyped attribute reported as a corrupt record.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use secure2fa_core::crypto::{Mac, Sealed, WrappedKey};
use secure2fa_core::ports::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(v))
}

pub fn boolean(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

/// `#name` placeholders for every attribute name used in an expression, so
/// no attribute ever collides with DynamoDB's reserved words.
pub fn names(exprs: &[&str]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for expr in exprs {
        let mut rest = *expr;
        while let Some(i) = rest.find('#') {
            let tail = &rest[i + 1..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
            out.insert(format!("#{}", &tail[..end]), tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    out
}

pub struct Reader<'a>(pub &'a Item);

fn corrupt(name: &str) -> StoreError {
    StoreError::Corrupt(format!("attribute {name} missing or mistyped"))
}

impl Reader<'_> {
    pub fn opt_s(&self, name: &str) -> Result<Option<&str>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v)),
            Some(_) => Err(corrupt(name)),
        }
    }

    pub fn s(&self, name: &str) -> Result<&str, StoreError> {
        self.opt_s(name)?.ok_or_else(|| corrupt(name))
    }

    pub fn opt_n<T: FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| corrupt(name)),
            Some(_) => Err(corrupt(name)),
        }
    }

    pub fn n<T: FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_n(name)?.ok_or_else(|| corrupt(name))
    }

    pub fn opt_b(&self, name: &str) -> Result<Option<&[u8]>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::B(v)) => Ok(Some(v.as_ref())),
            Some(_) => Err(corrupt(name)),
        }
    }

    pub fn b(&self, name: &str) -> Result<&[u8], StoreError> {
        self.opt_b(name)?.ok_or_else(|| corrupt(name))
    }

    pub fn bool(&self, name: &str) -> Result<bool, StoreError> {
        match self.0.get(name) {
            Some(AttributeValue::Bool(v)) => Ok(*v),
            _ => Err(corrupt(name)),
        }
    }

    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.s(name)?.parse().map_err(|_| corrupt(name))
    }

    pub fn parse_opt<T: FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.opt_s(name)?.map(|v| v.parse().map_err(|_| corrupt(name))).transpose()
    }

    pub fn parse_with<T>(&self, name: &str, f: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
        f(self.s(name)?).ok_or_else(|| corrupt(name))
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, StoreError> {
        serde_json::from_str(self.s(name)?).map_err(|_| corrupt(name))
    }

    pub fn sealed(&self, name: &str) -> Result<Sealed, StoreError> {
        Ok(Sealed::from_bytes(self.b(name)?.to_vec()))
    }

    pub fn opt_sealed(&self, name: &str) -> Result<Option<Sealed>, StoreError> {
        Ok(self.opt_b(name)?.map(|v| Sealed::from_bytes(v.to_vec())))
    }

    pub fn wrapped(&self, name: &str) -> Result<WrappedKey, StoreError> {
        Ok(WrappedKey::from_bytes(self.b(name)?.to_vec()))
    }

    pub fn mac(&self, name: &str) -> Result<Mac, StoreError> {
        Ok(Mac::from_hex(self.s(name)?.to_owned()))
    }

    pub fn opt_mac(&self, name: &str) -> Result<Option<Mac>, StoreError> {
        Ok(self.opt_s(name)?.map(|v| Mac::from_hex(v.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_collects_every_placeholder() {
        let n = names(&["#a = :a AND (#b_c < :x OR attribute_not_exists(#pk))", "SET #ttl = :t"]);
        let mut keys: Vec<_> = n.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["#a", "#b_c", "#pk", "#ttl"]);
        assert_eq!(n["#ttl"], "ttl");
    }
}
