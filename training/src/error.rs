//! The training crate's error: one type for its public functions, its kinds apart (a
//! file that cannot be read or written, a file that is not what it should be, an option
//! outside what it takes, media that cannot be read or written, the model, training
//! itself), each naming the file or option and what was expected.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read, written or created.
    #[error("cannot {action} {} ({source})", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not what it should be (a manifest, a feature cache, a corpus'
    /// metadata): which, and what was wrong or expected.
    #[error("{message}")]
    BadFile { path: PathBuf, message: String },
    /// An option or argument outside what it takes: which, and what it takes.
    #[error("{0}")]
    BadOption(String),
    /// Media could not be decoded, analysed or encoded: which file, and why.
    #[error("{}: {message}", path.display())]
    Media { path: PathBuf, message: String },
    /// The encoders could not be loaded or run.
    #[error(transparent)]
    Model(#[from] tuneclip_model::learned::LearnedError),
    /// The device asked for cannot be had.
    #[error(transparent)]
    Device(#[from] tuneclip_model::learned::DeviceError),
    /// Training stopped (no data, a non-finite loss, a checkpoint not written).
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// A picture could not be drawn.
    #[error("cannot draw {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
    /// Some items of a corpus failed: how many, and the first one's file and error.
    #[error("{failed} item(s) failed; first: {}: {first}", item.display())]
    Items { failed: usize, item: PathBuf, first: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The [`Error::Io`] of `action` ("read", "write", "create") on `path`, for `map_err`.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self + use<> {
        let path = path.to_path_buf();
        move |source| Self::Io { action, path, source }
    }

    /// The [`Error::Io`] of a failed atomic write (the file it names: the temporary one
    /// or the target).
    pub(crate) fn written(e: tuneclip_core::fs::AtomicWriteError) -> Self {
        Self::Io { action: "write", path: e.path, source: e.source }
    }

    /// `Ok` when no item of a corpus failed, else [`Error::Items`] with the first failed
    /// item in file order.
    pub(crate) fn items(errors: std::sync::Mutex<Vec<(PathBuf, Error)>>) -> Result<()> {
        let mut errors = errors.into_inner().unwrap_or_default();
        errors.sort_by(|a, b| a.0.cmp(&b.0));
        let failed = errors.len();
        match errors.into_iter().next() {
            None => Ok(()),
            Some((item, first)) => Err(Self::Items { failed, item, first: Box::new(first) }),
        }
    }

    /// An [`Error::BadFile`] whose message names `path`.
    pub(crate) fn bad_file(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::BadFile { path: path.to_path_buf(), message: format!("{}: {message}", path.display()) }
    }

    /// An [`Error::Media`] on `path`.
    pub(crate) fn media(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::Media { path: path.to_path_buf(), message: message.to_string() }
    }
}
