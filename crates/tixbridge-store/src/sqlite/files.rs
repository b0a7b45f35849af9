//! The database files themselves: created readable by their owner only, checked when
//! they already exist, and copied consistently for a backup.
//!
//! A store holds API keys (the ticketing side keeps the interface's key in clear, it
//! must send it), so no other local user may read its files. SQLite creates the WAL
//! and SHM files with the main file's mode (unix VFS, `findCreateFileMode`), so
//! creating the main file 0600 before SQLite opens it covers all three.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::{Result, StoreError};

/// The suffixes of the files SQLite keeps beside a database in WAL mode.
const COMPANIONS: [&str; 2] = ["-wal", "-shm"];

/// Makes `path` ready for SQLite: its missing parent directories are created 0700 and
/// a missing file is created empty with mode 0600; an existing file, WAL or SHM that
/// others may read or write gets a warning naming it.
pub(super) fn prepare(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        private_dir(dir)?;
    }
    match create_private(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_shared(path);
            Ok(())
        }
        Err(e) => Err(StoreError::Backend(format!(
            "cannot create the database file {}: {e}",
            path.display()
        ))),
    }
}

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left as
/// they are).
pub fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))
}

/// Creates a new empty file readable and writable by its owner only; fails with
/// `AlreadyExists` when there is one.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).map(drop)
}

/// Warns, naming the file, for each of the database's files that other users may
/// read or write.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![path.to_path_buf()];
        files.extend(COMPANIONS.iter().map(|s| companion(path, s)));
        for f in files {
            let Ok(meta) = std::fs::metadata(&f) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "the database file {} is readable by other users (mode {mode:o}); it holds API keys: `chmod 600 {}`",
                    f.display(),
                    f.display()
                );
            }
        }
    }
}

/// `path` with `suffix` appended to its file name (`ticketing.db-wal`).
fn companion(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Copies the SQLite database at `source` into the new file `dest` (mode 0600):
/// a consistent snapshot (`VACUUM INTO`, one read transaction) taken while other
/// connections and processes go on writing. The copy is a complete database on its
/// own (no WAL). Fails when `source` is not a database or `dest` already exists.
pub async fn backup(source: &Path, dest: &Path) -> Result<()> {
    let (source, dest) = (source.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || backup_blocking(&source, &dest))
        .await
        .map_err(super::join_error)?
}

fn backup_blocking(source: &Path, dest: &Path) -> Result<()> {
    if !source.is_file() {
        return Err(StoreError::Invalid(format!(
            "no database file at {}",
            source.display()
        )));
    }
    create_private(dest).map_err(|e| {
        StoreError::Invalid(format!(
            "cannot create the backup file {}: {e}",
            dest.display()
        ))
    })?;
    let copied = copy_into(source, dest);
    if copied.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    copied
}

fn copy_into(source: &Path, dest: &Path) -> Result<()> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(source, flags)
        .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", source.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let dest_str = dest.to_str().ok_or_else(|| {
        StoreError::Invalid(format!("the backup path {} is not UTF-8", dest.display()))
    })?;
    conn.execute("VACUUM INTO ?1", [dest_str]).map_err(|e| {
        StoreError::Backend(format!(
            "cannot copy {} into {}: {e}",
            source.display(),
            dest.display()
        ))
    })?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn files_and_directories_are_private_and_a_backup_is_too() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new/sub/ticketing.db");
        let store = crate::open_ticketing(&format!("sqlite:{}", db.display()))
            .await
            .unwrap();
        store.ensure_organization("ORG", "Org", "en").await.unwrap();
        for f in [db.clone(), companion(&db, "-wal"), companion(&db, "-shm")] {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        assert_eq!(mode(&dir.path().join("new")), 0o700);
        assert_eq!(mode(&dir.path().join("new/sub")), 0o700);

        let copy = dir.path().join("copy.db");
        backup(&db, &copy).await.unwrap();
        assert_eq!(mode(&copy), 0o600);
        let again = backup(&db, &copy).await.unwrap_err();
        assert!(again.to_string().contains("copy.db"), "{again}");
        drop(store);
        let copied = crate::open_ticketing(&format!("sqlite:{}", copy.display()))
            .await
            .unwrap();
        assert!(copied.organization_by_code("ORG").await.unwrap().is_some());
    }
}
