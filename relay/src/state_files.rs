//! Files the relay keeps between runs (token, credentials, runtime config), all private to
//! the user: the folder is 0700 and every file 0600, written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Folder for state files: the configured one, else `$XDG_STATE_HOME/rtc-node`, else
/// `~/.local/state/rtc-node`.
pub fn default_state_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("rtc-node");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local").join("state").join("rtc-node")
}

/// `e` prefixed with the path it is about, and what to do where the user can act, so a
/// start-up failure such as "Is a directory" says which file.
pub fn path_error(path: &Path, e: &std::io::Error) -> std::io::Error {
    use std::io::ErrorKind;
    let hint = match e.kind() {
        ErrorKind::IsADirectory => "; a file is expected there: move the folder away",
        ErrorKind::NotADirectory => {
            "; a folder is expected there: move the file away, or choose another state folder with RTC_RELAY_STATE_DIR"
        }
        ErrorKind::PermissionDenied => {
            "; give your user access to it, or choose another state folder with RTC_RELAY_STATE_DIR"
        }
        _ => "",
    };
    std::io::Error::new(e.kind(), format!("{}: {e}{hint}", path.display()))
}

/// Writes `contents` to `path` with mode 0600, replacing it atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("state file has no parent folder"))?;
    create_private_dir(dir).map_err(|e| path_error(dir, &e))?;
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(|e| path_error(&tmp, &e))?;
        // An existing file keeps its old mode on open; force 0600 anyway.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| path_error(&tmp, &e))?;
        file.write_all(contents).map_err(|e| path_error(&tmp, &e))?;
        file.sync_all().map_err(|e| path_error(&tmp, &e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| path_error(path, &e))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Reads a JSON state file; `Ok(None)` when it does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(path_error(path, &e)),
    }
}

/// Writes a JSON state file with [`write_private`].
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write_private(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_and_replace_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("token");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        assert!(!path.with_extension("tmp").exists());
    }

    #[test]
    fn missing_json_is_none_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert!(read_json::<serde_json::Value>(&path).unwrap().is_none());
        std::fs::write(&path, b"{nope").unwrap();
        assert!(read_json::<serde_json::Value>(&path).is_err());
    }
}
