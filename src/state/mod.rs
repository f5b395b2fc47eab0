//! The state store: one SQLite database per root (`state.db`), opened in WAL mode by every
//! `oxpod` process. There is no daemon, so SQLite's locking is what serialises concurrent
//! commands: every change is one short `BEGIN IMMEDIATE` transaction, and readers never block.

pub mod containers;
pub mod images;
pub mod kube;
mod migrations;
pub mod networks;
pub mod pods;
pub mod volumes;

pub use containers::{ContainerRecord, ContainerStatus};
pub use images::{ImageLayer, ImageName, ImageRecord};
pub use networks::{NetworkRecord, SandboxRecord};
pub use pods::PodRecord;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

/// How long a command waits for another command's transaction before giving up. Transactions
/// are short (milliseconds), so reaching this means something is badly wrong.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "state database {path} has schema version {found}, newer than this oxpod understands ({known}); upgrade oxpod"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state database holds malformed data for {what}: {source}")]
    Corrupt {
        what: String,
        source: serde_json::Error,
    },
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// An open connection to `state.db`.
pub struct Store {
    conn: Connection,
}

/// Switch the database to WAL (a no-op write when it already is). On a new database, several
/// processes switching it at once upgrade read transactions to write ones, and SQLite answers
/// SQLITE_BUSY to all but one straight away, without the busy handler (waiting could
/// deadlock); retry them, within the same bound as the busy timeout.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// The database holds container specs and environments: readable by its owner only. SQLite
/// gives its WAL and shared-memory files the database file's mode, so this covers them as
/// they are made; existing ones are fixed here too.
fn restrict_mode(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    for file in [path.to_path_buf(), PathBuf::from(wal), PathBuf::from(shm)] {
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
        }
    }
}

impl Store {
    /// Open (creating and migrating when needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL lets readers (`ps`, `images`) run while another command writes; NORMAL sync is
        // durable across process crashes, which is what concurrent CLI processes need.
        enable_wal(&conn).map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // Every command is a short process: checkpointing the WAL each time the last
        // connection closes would cost an fsync per command. Checkpoints still happen
        // automatically as the WAL grows.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(open_err)?;
        // A long WAL slows every reader that opens the database; checkpoint at 1 MiB
        // rather than SQLite's 4 MiB default, and truncate the file after checkpoints.
        conn.pragma_update(None, "wal_autocheckpoint", 256)
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_size_limit", 1 << 20)
            .map_err(open_err)?;
        migrations::migrate(&mut conn, path)?;
        restrict_mode(path);
        Ok(Store { conn })
    }

    /// Run `f` inside one write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so
    /// two commands never deadlock upgrading read locks; the busy timeout queues them instead.
    pub fn write<T, E>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StateError>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StateError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(StateError::from)?;
        Ok(value)
    }

    /// A read-only view; reads outside a transaction see one consistent snapshot per statement.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}
