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

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
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
