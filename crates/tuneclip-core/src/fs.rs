//! The one piece of file I/O every crate shares: writing a file so that a reader (or a
//! process killed half-way) sees the old contents or the new, never half of either.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically: into a temporary file beside it (same folder,
/// so the rename never crosses file systems), flushed to disk, then renamed over
/// `path`, and the folder flushed so the rename itself survives a crash. The temporary
/// file is removed when writing or renaming fails; the error names the file or folder
/// that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    let tmp = temporary_beside(path);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(AtomicWriteError { path: tmp, source });
    }
    if let Err(source) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(AtomicWriteError { path: path.to_path_buf(), source });
    }
    // The folder's entry: without this a crash can lose the rename on some file systems.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| AtomicWriteError { path: dir.to_path_buf(), source })
}

/// `.NAME.tmpPID` in `path`'s folder: hidden, and distinct per process so two writers
/// never share one.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// A failed [`write_atomic`]: the file (the temporary one or the target) and the cause.
#[derive(Debug)]
pub struct AtomicWriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl std::fmt::Display for AtomicWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write {} ({})", self.path.display(), self.source)
    }
}

impl std::error::Error for AtomicWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("tuneclip-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("a.json");
        std::fs::write(&path, b"old contents, longer than the new").expect("old");
        write_atomic(&path, b"new").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        let left: Vec<_> = std::fs::read_dir(&dir).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("a.json")]);
        // A folder that does not exist: the error names the temporary file, nothing is left.
        let missing = dir.join("no-such-folder").join("b.json");
        let e = write_atomic(&missing, b"x").expect_err("no folder");
        assert!(e.to_string().contains("no-such-folder"), "{e}");
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
