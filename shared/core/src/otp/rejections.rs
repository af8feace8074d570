//! Bounds what a flood of refused calls costs. Every refused call that
//! names a real project (bad payload, stale `iat`, rate limited...) leaves a
//! log entry, and each entry is a store write: without a bound, anyone who
//! knows a public key could multiply the project's write costs. Per project
//! and minute, the first [`LOGGED_PER_MINUTE`] refusals are logged one by
//! one; the rest are only counted, and the count is written into the next
//! refusal logged in a later minute.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use crate::clock::UnixTime;
use crate::ids::ProjectId;

/// Refusals logged individually per project and minute.
pub const LOGGED_PER_MINUTE: u32 = 10;

/// Projects tracked at once (memory bound); the least recent is forgotten.
const TRACKED_PROJECTS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Write the entry; `unlogged` refusals of an earlier minute were only
    /// counted and should be mentioned in it.
    Log { unlogged: u64 },
    /// Over this minute's allowance: counted, not written.
    Count,
}

#[derive(Clone, Copy)]
struct Window {
    minute: i64,
    logged: u32,
    counted: u64,
}

pub struct RejectionSampler {
    windows: Mutex<LruCache<ProjectId, Window>>,
}

impl Default for RejectionSampler {
    fn default() -> Self {
        let cap = NonZeroUsize::new(TRACKED_PROJECTS).expect("non-zero");
        Self { windows: Mutex::new(LruCache::new(cap)) }
    }
}

impl RejectionSampler {
    pub fn admit(&self, project: ProjectId, now: UnixTime) -> Admission {
        let minute = now.div_euclid(60);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.get_or_insert_mut(project, || Window { minute, logged: 0, counted: 0 });
        let mut carried = 0;
        if w.minute != minute {
            carried = w.counted;
            *w = Window { minute, logged: 0, counted: 0 };
        }
        if w.logged < LOGGED_PER_MINUTE {
            w.logged += 1;
            Admission::Log { unlogged: carried }
        } else {
            if w.counted == 0 {
                tracing::warn!(project_id = %project, "refused calls over the log allowance; counting them");
            }
            w.counted += 1;
            Admission::Count
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_logged_up_to_the_allowance_then_summarised_in_a_later_minute() {
        let s = RejectionSampler::default();
        let (p, other) = (ProjectId::generate(), ProjectId::generate());
        let t = 6_000_000;
        let admitted: Vec<Admission> = (0..100).map(|i| s.admit(p, t + i % 60)).collect();
        assert_eq!(admitted.iter().filter(|a| matches!(a, Admission::Log { .. })).count(), 10);
        assert_eq!(s.admit(other, t), Admission::Log { unlogged: 0 }, "per project");
        assert_eq!(s.admit(p, t + 60), Admission::Log { unlogged: 90 });
        assert_eq!(s.admit(p, t + 61), Admission::Log { unlogged: 0 });
    }
}
