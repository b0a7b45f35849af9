//! SQLite backends (rusqlite). One writer connection and a few reader connections per
//! database, WAL mode. Commits use `synchronous=NORMAL` by default: durable across
//! crashes of the process; a power cut may lose the last commits. For the ticketing
//! store that is harmless (lost marks make the interface send those tickets again, and
//! the wallet accepts them idempotently). For the wallet store it means a ticket
//! answered `OK` could vanish with the power, so `?sync=full` on its URL
//! (`sqlite:wallet.db?sync=full`) makes every commit reach the disk before it returns,
//! at a measured cost of about a quarter of its write rate.
//! Every store call is one hop onto a blocking thread, so a 50-ticket batch costs one
//! hand-off, not fifty.
//!
//! Checkpoints (copying the WAL back into the database file, with its fsyncs) run on a
//! background thread of their own instead of inside whichever commit crosses SQLite's
//! automatic threshold: measured here, that takes about a third of the time off every
//! write-heavy path (26k → 40k wallet tickets/s). When the last handle on a database
//! goes (a clean shutdown), the checkpointer stops and the WAL is checkpointed and
//! truncated before the connections close, so the main file alone holds the data.
//!
//! Files: a database file this backend creates is readable by its owner only (0600),
//! before SQLite first opens it; SQLite gives its WAL and SHM files the main file's
//! mode. Directories it creates are 0700. An existing database file (or its WAL/SHM)
//! that others may read gets a warning naming it: it holds API keys.
//!
//! [`backup`] copies a live database consistently (`VACUUM INTO`).

mod files;
mod privileges;
mod ticketing;
mod wallet;

pub use files::{backup, private_dir};
pub use ticketing::{open_ticketing, open_ticketing_with};
pub use wallet::{open_wallet, open_wallet_with};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::{Result, StoreError};

/// Readers kept open; more concurrent reads open extra connections that are closed
/// after use.
const MAX_IDLE_READERS: usize = 4;

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL size (in pages) beyond which the checkpointer briefly holds writers back to
/// restart the WAL from its beginning, so that it does not grow without bound under a
/// continuous load. 16,384 pages of 4 KiB = 64 MiB.
const WAL_RESTART_PAGES: i64 = 16_384;

/// How hard a commit holds on to its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL`: a commit survives a crash of the process; the last
    /// commits may be lost on power loss. For data that is rebuilt by resending.
    Normal,
    /// `synchronous=FULL`: a commit is on disk before it returns. For data whose
    /// loss nobody would notice or repair (what the wallet answered `OK` for).
    Full,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// A SQLite database shared by the store's calls.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    stop_checkpointer: Arc<AtomicBool>,
    checkpointer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    /// The last handle went: stop the checkpointer (it checkpoints once more and
    /// closes its connection), then truncate the WAL from the writer, so that the
    /// main file holds every commit when the process ends.
    fn drop(&mut self) {
        self.stop_checkpointer.store(true, Ordering::Relaxed);
        if let Some(t) = self.checkpointer.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let writer = self.writer.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            tracing::warn!(file = %self.path.display(), error = %e, "final WAL checkpoint failed");
        }
    }
}

impl Db {
    /// Opens (creating if needed) the database and applies the migrations not yet
    /// applied, in order. `migrations` is append-only: never edit one that has landed.
    pub async fn open(
        path: &Path,
        migrations: &'static [(&'static str, &'static str)],
        durability: Durability,
    ) -> Result<Db> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            files::prepare(&path)?;
            let mut conn = open_conn(&path, true)?;
            conn.pragma_update(None, "synchronous", durability.pragma())?;
            migrate(&mut conn, migrations)?;
            // Commits never checkpoint; the checkpointer thread does.
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            let stop = Arc::new(AtomicBool::new(false));
            let checkpointer = spawn_checkpointer(&path, stop.clone())?;
            Ok(Db {
                inner: Arc::new(Inner {
                    path,
                    writer: Mutex::new(conn),
                    readers: Mutex::new(Vec::new()),
                    stop_checkpointer: stop,
                    checkpointer: Some(checkpointer),
                }),
            })
        })
        .await
        .map_err(join_error)?
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in one immediate write transaction on the writer connection; commits
    /// when `f` returns `Ok`, rolls back otherwise.
    pub async fn write<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let r = f(&tx)?;
            tx.commit()?;
            Ok(r)
        })
        .await
        .map_err(join_error)?
    }
    /// Runs `f` with exclusive use of the writer connection, outside any transaction:
    /// for work that manages its own transactions (a long import).
    pub fn with_writer_blocking<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        let mut conn = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    /// Runs `f` on a reader connection (a consistent snapshot for its duration when it
    /// opens a transaction itself).
    pub async fn read<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match conn {
                Some(c) => c,
                None => open_conn(&inner.path, false)?,
            };
            let r = f(&conn);
            let mut pool = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
            r
        })
        .await
        .map_err(join_error)?
    }
}

fn join_error(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("database task failed: {e}"))
}

/// Starts the thread that checkpoints the WAL until `stop` is set (when the last
/// handle on the database goes), then checkpoints once more and truncates the WAL.
fn spawn_checkpointer(path: &Path, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>> {
    let conn = open_conn(path, true)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let name = format!("sqlite-checkpoint {}", path.display());
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let checkpoint = |mode: &str| -> rusqlite::Result<(i64, i64)> {
                conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })
            };
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(CHECKPOINT_EVERY);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match checkpoint("PASSIVE") {
                    Ok((log, _)) if log > WAL_RESTART_PAGES => {
                        if let Err(e) = checkpoint("RESTART") {
                            tracing::warn!(error = %e, "WAL restart checkpoint failed");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                }
            }
            let _ = checkpoint("TRUNCATE");
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))
}

fn open_conn(path: &Path, writer: bool) -> Result<Connection> {
    let flags = if writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        StoreError::Backend(format!(
            "cannot open SQLite database {}: {e}",
            path.display()
        ))
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    if writer {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Readers keep a larger page cache for the candidate scans. The writer keeps
    // SQLite's default: it trims its cache at every commit, at a cost that grows with
    // the cache (13 % of marking time with 32 MB, profiled).
    if !writer {
        conn.pragma_update(None, "cache_size", -16_000)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection, migrations: &[(&str, &str)]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version TEXT PRIMARY KEY,
            applied_at TEXT NOT NULL
        )",
    )?;
    for (version, sql) in migrations {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !done {
            tx.execute_batch(sql)
                .map_err(|e| StoreError::Backend(format!("migration {version} failed: {e}")))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![version, chrono::Utc::now().to_rfc3339()],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}
