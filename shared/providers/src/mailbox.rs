//! The sender of an email as the JSON email APIs take it.

/// `"Name" <address>` when the channel has a sender name, else the bare address. The name is
/// quoted (RFC 5322 quoted-string), so commas and angle brackets in it stay part of the name;
/// the credential schema already refuses control characters.
pub(crate) fn display_address(address: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("\"{}\" <{address}>", name.replace('\\', "\\\\").replace('"', "\\\"")),
        None => address.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_escaped() {
        assert_eq!(display_address("a@example.com", None), "a@example.com");
        assert_eq!(display_address("a@example.com", Some("Acme, Inc.")), "\"Acme, Inc.\" <a@example.com>");
        assert_eq!(display_address("a@example.com", Some("Say \"hi\" \\o/")), r#""Say \"hi\" \\o/" <a@example.com>"#);
    }
}
