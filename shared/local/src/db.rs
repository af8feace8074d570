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
//! checkpoint (at most about a second of them: a background connection
//! checkpoints every second), never corrupt the database. Checkpoints run on
//! that background connection so that their `fsync` never stalls the
//! operations.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use secure2fa_core::ports::StoreError;

const SCHEMA: &str = include_str!("schema.sql");

/// Operations run in one transaction at most.
const MAX_BATCH: usize = 256;

/// How often the background connection checkpoints the WAL into the
/// database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

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
        // Checkpoints are the background connection's job.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;").map_err(unavailable)?;
        let (alive, stopped) = mpsc::channel();
        let db = Self::start(conn, Some(alive))?;
        spawn_checkpointer(path.to_owned(), stopped);
        Ok(db)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::start(Connection::open_in_memory().map_err(unavailable)?, None)
    }

    /// Starts the database thread. `alive` is held by it: dropping it when
    /// the thread ends tells the checkpointer to stop too.
    fn start(conn: Connection, alive: Option<mpsc::Sender<()>>) -> Result<Self, StoreError> {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        let (tasks, queue) = mpsc::channel::<Task>();
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || {
                run_batches(conn, queue);
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
fn run_batches(mut conn: Connection, queue: mpsc::Receiver<Task>) {
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
    }
}

/// Checkpoints the WAL into the database file every second from its own
/// connection (`PASSIVE`: never waits for, nor blocks, the writer), until
/// the database thread has ended.
fn spawn_checkpointer(path: PathBuf, stopped: mpsc::Receiver<()>) {
    let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
        let conn = match Connection::open(&path) {
            Ok(c) => c,
            Err(e) => return tracing::error!(error = %e, "checkpoint connection could not open"),
        };
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL) {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint failed");
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
