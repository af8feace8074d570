//! The SQLite database behind the store and the job table: one connection,
//! owned by one thread that runs every operation, in arrival order.
//!
//! Operations queue up while the thread is busy and run together in one
//! transaction (group commit). Each stays atomic on its own: it is a single
//! statement (which SQLite rolls back alone when it fails), or it opens its
//! own savepoint (`conn.savepoint()`, never `transaction()`), which a
//! failure rolls back without touching the others. Every caller gets its
//! answer only after the transaction has committed, so an acknowledged write is in the
//! WAL file before anyone is told about it. One writer means no
//! `SQLITE_BUSY`, no lock on the async side and no blocking-pool hop per
//! statement; batching means one WAL commit for many operations.
//!
//! Durability: WAL with `synchronous = NORMAL`. A committed transaction
//! survives a crash of this process (it is in the OS's page cache); a power
//! loss or kernel crash can lose the transactions committed since the last
//! checkpoint's `fsync` (a fraction of a second under load), never corrupt
//! the database.
//!
//! Checkpoints, in two steps so that the operations never wait for the
//! bulk of one: a background connection copies the WAL into the database
//! file ten times a second. SQLite starts the WAL over from its beginning
//! only once a checkpoint has caught up with the last commit, which a
//! background checkpoint never does while writes never stop; so when the
//! WAL has grown past [`WAL_RESTART_BYTES`], the background connection asks
//! the database thread, the only writer, to copy the little written since
//! its last checkpoint. That one catches up (a pause of a few milliseconds,
//! every few seconds under full load), and the next write starts the WAL
//! over: the file's size is bounded and its pages are rewritten in place.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::Connection;
use secure2fa_core::ports::StoreError;

const SCHEMA: &str = include_str!("schema.sql");

/// Columns added after a table was first released: a data directory made by
/// an earlier version gains them at open (`CREATE TABLE IF NOT EXISTS` leaves
/// an existing table as it was).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("end_users", "provider_message_id", "TEXT"),
    ("channels", "receipt_secret", "BLOB"),
    ("projects", "fallback_channel_id", "TEXT REFERENCES channels(id) ON DELETE RESTRICT"),
    ("projects", "fallback_after", "INTEGER"),
    ("end_users", "receipt_status", "TEXT"),
    ("end_users", "receipt_rank", "INTEGER"),
    ("end_users", "receipt_reason", "TEXT"),
    ("end_users", "receipt_at", "INTEGER"),
    ("end_users", "fallback", "INTEGER NOT NULL DEFAULT 0"),
    ("clients", "totp_pending", "BLOB"),
    ("clients", "session_epoch", "INTEGER NOT NULL DEFAULT 0"),
    ("clients", "disabled", "INTEGER NOT NULL DEFAULT 0"),
    ("projects", "previous_secret_key", "BLOB"),
    ("projects", "previous_secret_until", "INTEGER"),
    ("projects", "revision", "INTEGER NOT NULL DEFAULT 0"),
];

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, decl) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |row| row.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

/// Operations run in one transaction at most.
const MAX_BATCH: usize = 256;

/// How often the background connection checkpoints.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// WAL size past which the database thread is asked to catch up, so that
/// the WAL starts over (see the module documentation).
const WAL_RESTART_BYTES: u64 = 256 << 20;

/// Page size of a new database. Most pages an operation dirties are leaves
/// at random places (keys are HMACs) or the rightmost leaf of an index, and
/// every commit writes each dirty page whole into the WAL: small pages mean
/// a quarter of the bytes written for the same work.
const PAGE_SIZE: u32 = 1024;

/// One queued operation: runs on the database thread and returns what to
/// do once the batch's commit is known.
type Task = Box<dyn FnOnce(&mut Connection) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

#[derive(Clone)]
pub struct Db {
    tasks: mpsc::Sender<Task>,
}

impl Db {
    /// Opens (creating if needed) the database file and applies the schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::files::create_private(path).map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        let conn = Connection::open(path).map_err(unavailable)?;
        // The page size only applies to a new, empty file. Checkpoints are
        // run as the module documentation says, never automatically; a
        // restarted WAL is cut back to its usual size.
        conn.execute_batch(&format!(
            "PRAGMA page_size = {PAGE_SIZE}; PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = {WAL_RESTART_BYTES};"
        ))
        .map_err(unavailable)?;
        let catch_up = Arc::new(AtomicBool::new(false));
        let (alive, stopped) = mpsc::channel();
        let db = Self::start(conn, Some((alive, catch_up.clone())))?;
        spawn_checkpointer(path.to_owned(), stopped, catch_up);
        Ok(db)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::start(Connection::open_in_memory().map_err(unavailable)?, None)
    }

    /// Starts the database thread. For a file, `file` holds the sender the
    /// thread keeps alive (dropping it when the thread ends stops the
    /// checkpointer too) and the flag by which the checkpointer asks it to
    /// catch up.
    fn start(conn: Connection, file: Option<(mpsc::Sender<()>, Arc<AtomicBool>)>) -> Result<Self, StoreError> {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        migrate(&conn).map_err(unavailable)?;
        let (tasks, queue) = mpsc::channel::<Task>();
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || {
                let (alive, catch_up) = file.unzip();
                run_batches(conn, queue, catch_up);
                drop(alive);
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the database thread: {e}")))?;
        Ok(Self { tasks })
    }

    /// Runs `f` on the database thread and answers once its batch has
    /// committed. `f` must be one statement, or use a savepoint of its own
    /// for several (see the module documentation).
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move |conn| {
            let result = f(conn);
            Box::new(move |committed| {
                let _ = answer.send(committed.and(result));
            })
        });
        self.tasks.send(task).map_err(|_| StoreError::Unavailable("the database thread has stopped".into()))?;
        answered.await.map_err(|_| StoreError::Unavailable("the database could not run the operation".into()))?
    }
}

/// The database thread: takes whatever has queued up (at least one
/// operation, at most [`MAX_BATCH`]), runs it in one transaction, commits,
/// then answers. Ends when every [`Db`] handle is gone.
fn run_batches(mut conn: Connection, queue: mpsc::Receiver<Task>, catch_up: Option<Arc<AtomicBool>>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(task) => batch.push(task),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the tasks unrun answers their callers with an error.
            tracing::error!(error = %e, "database transaction could not begin");
            continue;
        }
        let replies: Vec<Reply> = batch.into_iter().map(|task| task(&mut conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(unavailable);
        if let Err(e) = &committed {
            tracing::error!(error = %e, "database commit failed; the batch is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(committed.clone());
        }
        if catch_up.as_ref().is_some_and(|flag| flag.swap(false, Ordering::AcqRel))
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "WAL checkpoint on the database thread failed");
        }
    }
}

/// The background checkpoints (see the module documentation): copies the
/// WAL into the database file from its own connection (`PASSIVE`: never
/// waits for, nor blocks, the writer), and asks the database thread to
/// catch up once the WAL has grown past [`WAL_RESTART_BYTES`]. Stops when
/// the database thread has ended.
fn spawn_checkpointer(path: PathBuf, stopped: mpsc::Receiver<()>, catch_up: Arc<AtomicBool>) {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
        let conn = match Connection::open(&path) {
            Ok(c) => c,
            Err(e) => return tracing::error!(error = %e, "checkpoint connection could not open"),
        };
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL) {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                continue;
            }
            if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_RESTART_BYTES) {
                catch_up.store(true, Ordering::Release);
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "checkpoint thread could not start");
    }
}

pub(crate) fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// Maps SQLite errors, turning a constraint failure into `conflict`.
pub(crate) fn sql(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => match f.extended_code {
            rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY | rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER => StoreError::InUse,
            _ => StoreError::Conflict("unique key"),
        },
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_from_before_a_column_was_added_gains_it_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // end_users as the first release created it.
            let conn = Connection::open(&path).unwrap();
            let old = SCHEMA.replace("    provider_message_id  TEXT,\n", "");
            assert_ne!(old, SCHEMA, "the column is in the schema");
            conn.execute_batch(&old).unwrap();
        }
        let db = Db::open(&path).unwrap();
        let columns: Vec<String> = db
            .run(|conn| {
                let mut s = conn.prepare("SELECT name FROM pragma_table_info('end_users')").unwrap();
                let names = s.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
                Ok(names)
            })
            .await
            .unwrap();
        assert!(columns.iter().any(|c| c == "provider_message_id"), "{columns:?}");
        drop(db);
        // Opening again (column present) is a no-op.
        Db::open(&path).unwrap();
    }
}
