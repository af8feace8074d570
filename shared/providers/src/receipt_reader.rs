//! The receipts port of the core ([`ReceiptReader`]), served by [`read_receipts`].

use http::{HeaderMap, HeaderName, HeaderValue};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::otp::{ProviderReceipt, ReceiptCallback, ReceiptError, ReceiptReader};
use secure2fa_core::ports::ProviderCredentials;

use crate::receipts::{ReceiptRequest, read_receipts};

/// Reads every provider's callbacks as `crate::receipts` documents.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProviderReceiptReader;

impl ReceiptReader for ProviderReceiptReader {
    fn read(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        receipt_secret: &str,
        callback: &ReceiptCallback,
        now: UnixTime,
    ) -> Result<Vec<ProviderReceipt>, ReceiptError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &callback.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                headers.append(name, value);
            }
        }
        let request = ReceiptRequest { url: &callback.url, headers: &headers, body: &callback.body };
        read_receipts(provider, credentials, receipt_secret, &request, now)
    }
}
