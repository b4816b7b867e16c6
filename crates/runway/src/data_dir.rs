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

/// Narrows an `admin-token` file others can read (copied, or left by an
/// older release) to 0600, with a warning, as the database's own files are:
/// it holds an admin secret in plain text.
pub(crate) fn narrow_admin_token(data_dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = data_dir.join("admin-token");
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(());
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("narrowing {}", path.display()))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{mode:o}"),
                "others could read the admin token: its mode is now 600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = data_dir;
    Ok(())
}

pub(crate) fn write_admin_token(data_dir: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    create_private_dir(data_dir)?;
    let path = data_dir.join("admin-token");
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
        narrow_admin_token(dir.path()).unwrap(); // none yet: nothing to do
        let path = dir.path().join("admin-token");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        narrow_admin_token(dir.path()).unwrap();
        assert_eq!(mode(&path), 0o600);
        // A file left readable by others before a new bootstrap.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        narrow_admin_token(dir.path()).unwrap();
        write_admin_token(dir.path(), "rwy_pat_new").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "rwy_pat_new\n");
    }
}
