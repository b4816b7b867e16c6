//! The data directory's private files: the directory itself and the
//! admin token (the database's own are the store's, `private_files`).

use std::path::Path;

use anyhow::Context;

/// Creates `dir` (and its missing parents) readable by this user alone: it
/// holds the database and the admin token. An existing directory keeps its
/// mode (the operator chose it).
pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Where a first start saves the admin token, in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Narrows an `admin-token` file others can read (copied, or left by an
/// older release) to 0600, with a warning, as the database's own files are:
/// it holds an admin secret in plain text. One that cannot be narrowed (a
/// read-only mount, another owner) is warned about; it does not stop a start.
pub(crate) fn narrow_admin_token(data_dir: &Path) {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if let Err(err) = runway_store::narrow_to_owner(&path, "the admin token") {
        tracing::warn!(path = %path.display(), %err, "others may read the admin token: narrow it to 600");
    }
}

pub(crate) fn write_admin_token(data_dir: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    create_private_dir(data_dir)?;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{token}")?;
    Ok(())
}

/// Where `serve --exec` records the id of the runner token it minted for
/// its embedded runner; locked while that `serve` runs.
pub const EMBEDDED_RUNNER_FILE: &str = "embedded-runner";

/// A `serve --exec`'s hold on its data directory's [`EMBEDDED_RUNNER_FILE`]:
/// locked for as long as this value lives (the process, however it ends —
/// the kernel drops the lock of a killed one), so the token it names
/// belongs to a start that is over unless the lock is held.
pub(crate) struct EmbeddedRunnerRecord {
    file: std::fs::File,
}

impl EmbeddedRunnerRecord {
    /// Locks the record of `data_dir` and reads the token id the last start
    /// with it left. `None` when another live `serve --exec` holds it (two
    /// sharing one data directory): its token is not this one's to revoke.
    pub(crate) fn claim(data_dir: &Path) -> anyhow::Result<Option<(Self, Option<String>)>> {
        use std::io::Read;
        create_private_dir(data_dir)?;
        let path = data_dir.join(EMBEDDED_RUNNER_FILE);
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(anyhow::Error::from(err).context(format!("locking {}", path.display())));
            }
        }
        let mut previous = String::new();
        file.read_to_string(&mut previous)
            .with_context(|| format!("reading {}", path.display()))?;
        let previous = Some(previous.trim().to_string()).filter(|id| !id.is_empty());
        Ok(Some((Self { file }, previous)))
    }

    /// Records `token_id` as this start's, for the next start to revoke.
    pub(crate) fn record(&mut self, token_id: &str) -> std::io::Result<()> {
        use std::io::{Seek, Write};
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "{token_id}")?;
        self.file.sync_all()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_embedded_runner_record_is_held_by_one_start_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (mut first, previous) = EmbeddedRunnerRecord::claim(dir.path()).unwrap().unwrap();
        assert_eq!(previous, None);
        first.record("tok_1").unwrap();
        first.record("tok_2").unwrap();
        // Another start while this one runs: not its record.
        assert!(EmbeddedRunnerRecord::claim(dir.path()).unwrap().is_none());
        drop(first);
        let (_, previous) = EmbeddedRunnerRecord::claim(dir.path()).unwrap().unwrap();
        assert_eq!(previous.as_deref(), Some("tok_2"));
        assert_eq!(mode(&dir.path().join(EMBEDDED_RUNNER_FILE)), 0o600);
    }

    #[test]
    fn an_admin_token_others_can_read_is_narrowed_and_rewritten_private() {
        let dir = tempfile::tempdir().unwrap();
        narrow_admin_token(dir.path()); // none yet: nothing to do
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        narrow_admin_token(dir.path());
        assert_eq!(mode(&path), 0o600);
        // A file left readable by others before a new bootstrap.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        narrow_admin_token(dir.path());
        write_admin_token(dir.path(), "rwy_pat_new").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "rwy_pat_new\n");
    }
}
