use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::ids::{ClientId, LogId, ProjectId, VerificationId};
use crate::model::UserRef;

/// How long log entries are kept (TTL on AWS, a sweep locally).
pub const LOG_RETENTION_SECONDS: i64 = 90 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Info,
    Success,
    Warning,
    Danger,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Success => "success",
            Self::Warning => "warning",
            Self::Danger => "danger",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Info, Self::Success, Self::Warning, Self::Danger].into_iter().find(|l| l.as_str() == s)
    }
}

/// One audit line. `message` is written by us from fixed wording plus ids;
/// it never contains a code, an address or an end-user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub id: LogId,
    pub client_id: ClientId,
    pub project_id: Option<ProjectId>,
    pub user_ref: Option<UserRef>,
    pub verification_id: Option<VerificationId>,
    pub level: LogLevel,
    /// Machine-readable kind, e.g. `otp.generated`, `otp.approved`.
    pub event: String,
    pub message: String,
    pub created_at: UnixTime,
}

impl LogEntry {
    pub fn expires_at(&self) -> UnixTime {
        self.created_at + LOG_RETENTION_SECONDS
    }
}

/// A page of a client's logs, newest first, and where the next page starts:
/// `None` when there is nothing older. A store that bounds the work of one
/// page may return fewer entries than asked and still a `next_before`.
#[derive(Debug, Clone, Default)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    pub next_before: Option<LogId>,
}

impl LogPage {
    /// A page cut at `limit` entries: more may follow when it is full.
    pub fn of(entries: Vec<LogEntry>, limit: usize) -> Self {
        let next_before = if entries.len() >= limit { entries.last().map(|e| e.id) } else { None };
        Self { entries, next_before }
    }
}

/// A page of a client's logs, newest first, optionally narrowed.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub project_id: Option<ProjectId>,
    pub user_ref: Option<UserRef>,
    pub level: Option<LogLevel>,
    /// Only entries strictly older than this id (for paging).
    pub before: Option<LogId>,
    pub limit: usize,
}
