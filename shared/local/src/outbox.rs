//! The outbox: a development "provider" that keeps every message it is given
//! in `outbox.jsonl` (its own file, not the database) so that `GET
//! /dev/outbox` can show them. Local mode only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use secure2fa_core::clock::{Clock, UnixTime};
use secure2fa_core::model::{ProviderKind, TemplateFormat};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, SentMessage};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub format: TemplateFormat,
    pub sent_at: UnixTime,
}

#[derive(Clone)]
pub struct Outbox {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    lock: Arc<Mutex<()>>,
}

impl Outbox {
    pub fn new(path: &Path, clock: Arc<dyn Clock>) -> Self {
        Self { path: path.to_owned(), clock, lock: Arc::new(Mutex::new(())) }
    }

    fn append(&self, msg: &OutboxMessage) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(&self.path)?.write_all(&line)
    }

    /// Messages, newest first, at most `limit`.
    pub async fn list(&self, limit: usize) -> std::io::Result<Vec<OutboxMessage>> {
        let (path, lock) = (self.path.clone(), self.lock.clone());
        tokio::task::spawn_blocking(move || {
            let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            // A torn last line (crash mid-write) is skipped, not fatal.
            Ok(text.lines().rev().filter_map(|l| serde_json::from_str(l).ok()).take(limit).collect())
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

#[async_trait]
impl MessageSender for Outbox {
    async fn send(
        &self,
        provider: ProviderKind,
        _: &ProviderCredentials,
        m: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        if provider != ProviderKind::Outbox {
            return Err(SendError::Permanent(format!("the outbox cannot send through {}", provider.as_str())));
        }
        let msg = OutboxMessage {
            id: ulid::Ulid::new().to_string(),
            to: m.to.as_str().to_owned(),
            subject: m.subject.clone(),
            body: m.body.clone(),
            format: m.format,
            sent_at: self.clock.now(),
        };
        let this = self.clone();
        let id = msg.id.clone();
        tokio::task::spawn_blocking(move || this.append(&msg))
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?
            .map_err(|e| SendError::Transient(format!("outbox write failed: {}", e.kind())))?;
        Ok(SentMessage { provider_message_id: Some(id) })
    }
}
