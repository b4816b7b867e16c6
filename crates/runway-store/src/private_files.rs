//! A SQLite database is readable by its owner alone: it holds token hashes,
//! webhook signing secrets and every transcript.

use std::io;
use std::path::{Path, PathBuf};

/// The mode of the database and its companions.
#[cfg(unix)]
const PRIVATE: u32 = 0o600;

/// Creates `database` with mode 0600 when it does not exist (SQLite then
/// creates its `-wal` and `-shm` with the same mode), and narrows an
/// existing database and companions that others can read to 0600 (a data
/// directory from an older release), with a warning.
pub(crate) fn secure(database: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if !database.exists() {
            return match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(PRIVATE)
                .open(database)
            {
                // Another process may create it between the two calls.
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => secure(database),
                Err(e) => Err(e),
            };
        }
        for path in with_companions(database) {
            narrow_to_owner(&path, "the database")?;
        }
    }
    #[cfg(not(unix))]
    let _ = database;
    Ok(())
}

/// Narrows `path` to mode 0600 when others can read it, with a warning
/// naming `what` it holds; a missing file is left alone.
pub fn narrow_to_owner(path: &Path, what: &str) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(());
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{mode:o}"),
                "others could read {what}: its mode is now 600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
    Ok(())
}

fn with_companions(database: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [database.to_path_buf(), with("-wal"), with("-shm")]
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "runway-private-{name}-{}",
            crate::ids::IdKind::Run.generate()
        ));
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn a_new_database_is_created_private() {
        let dir = scratch("new");
        let db = dir.join("runway.db");
        secure(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_existing_readable_database_and_its_wal_are_narrowed() {
        let dir = scratch("old");
        let db = dir.join("runway.db");
        let [_, wal, shm] = with_companions(&db);
        for (path, m) in [(&db, 0o644), (&wal, 0o664), (&shm, 0o600)] {
            std::fs::write(path, b"x").unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).unwrap();
        }
        secure(&db).unwrap();
        assert_eq!([mode(&db), mode(&wal), mode(&shm)], [0o600; 3]);
        assert_eq!(std::fs::read(&db).unwrap(), b"x", "contents untouched");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
