//! The model crate's integration tests (one binary).

mod pitch;
