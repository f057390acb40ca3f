//! Whole-or-nothing file writes: write a temporary file beside the target, sync it, rename it.
//!
//! A reader therefore sees either the previous file (or none) or the complete new one, never a
//! prefix — the same discipline as the kernel's `rename(2)`-based config updates.

use std::io::Write;
use std::path::Path;

use crate::error::{ResultsError, io_err};

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ResultsError> {
    write_atomic_with(path, |w| w.write_all(bytes).map_err(io_err(path)))
}

/// Write `path` atomically with `fill`, which writes the content into the temporary file.
///
/// If `fill` fails, the temporary file is removed and `path` is left as it was.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<(), ResultsError>
where
    F: FnOnce(&mut dyn Write) -> Result<(), ResultsError>,
{
    let dir = parent_dir(path);
    let mut tmp =
        tempfile::Builder::new().prefix(".tmp-").suffix(&temp_suffix(path)).tempfile_in(dir).map_err(io_err(dir))?;
    {
        let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut buffered)?;
        buffered.flush().map_err(io_err(path))?;
    }
    finish(tmp, path)
}

/// Make the finished temporary file readable by all (temp files start as 0600), sync it and
/// rename it over `path`.
fn finish(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), ResultsError> {
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| ResultsError::Io { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// Create a file atomically through a writer that insists on a file name of its own (plotters'
/// bitmap backend picks the image format from the extension): `draw` gets a temporary path with
/// the same extension, and the result is renamed to `path` only if `draw` succeeds.
pub fn create_atomic_via_path<F>(path: &Path, draw: F) -> Result<(), ResultsError>
where
    F: FnOnce(&Path) -> Result<(), ResultsError>,
{
    let dir = parent_dir(path);
    let tmp =
        tempfile::Builder::new().prefix(".tmp-").suffix(&temp_suffix(path)).tempfile_in(dir).map_err(io_err(dir))?;
    draw(tmp.path())?;
    finish(tmp, path)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Keep the extension so that tools choosing a format by name still work on the temp file.
fn temp_suffix(path: &Path) -> String {
    path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        let err = write_atomic_with(&path, |w| {
            w.write_all(b"{\"half\": ").unwrap();
            Err(ResultsError::Font)
        })
        .unwrap_err();
        assert!(matches!(err, ResultsError::Font));
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temp file left");
    }

    #[test]
    fn replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}
