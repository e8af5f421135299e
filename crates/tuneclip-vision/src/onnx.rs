//! ONNX Runtime for every model tuneclip runs through it (CenterFace, the text
//! detector, Basic Pitch): the one environment a process may have, sessions, and
//! their error, which names the model.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A model run through ONNX Runtime failed to load or to run; `what` names the model
/// ("face model", "text model", ...).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    #[error("cannot load ONNX Runtime from {path}: {reason} (run setup.sh)")]
    Runtime { path: PathBuf, reason: String },
    #[error("cannot load {what} {path}: {reason} (run setup.sh)")]
    Model { what: &'static str, path: PathBuf, reason: String },
    #[error("{what} failed: {reason}")]
    Inference { what: &'static str, reason: String },
}

impl OnnxError {
    /// An [`OnnxError::Inference`] of `what`, for `map_err`.
    pub fn inference(what: &'static str) -> impl Fn(ort::Error) -> Self {
        move |e| Self::Inference { what, reason: e.to_string() }
    }
}

/// ONNX Runtime allows one environment per process.
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn environment(lib: &Path) -> Result<&'static ort::environment::Environment, OnnxError> {
    ENVIRONMENT
        .get_or_init(|| {
            if !lib.is_file() {
                return Err("file not found".into());
            }
            ort::init_from(lib).map_err(|e| e.to_string())?.with_name("tuneclip").build().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| OnnxError::Runtime { path: lib.to_path_buf(), reason: reason.clone() })
}

/// An ONNX Runtime session for `model` (`what` it is, for errors), with the runtime
/// library `lib`; one intra-op thread: ingest parallelises across files, not inside a
/// frame.
pub fn open_session(lib: &Path, model: &Path, what: &'static str) -> Result<ort::session::Session, OnnxError> {
    let env = environment(lib)?;
    if !model.is_file() {
        return Err(OnnxError::Model { what, path: model.to_path_buf(), reason: "file not found".into() });
    }
    let model_err = |reason: String| OnnxError::Model { what, path: model.to_path_buf(), reason };
    ort::session::Session::builder(env)
        .map_err(|e| model_err(e.to_string()))?
        .with_intra_threads(1)
        .map_err(|e| model_err(e.to_string()))?
        .commit_from_file(model)
        .map_err(|e| model_err(e.to_string()))
}
