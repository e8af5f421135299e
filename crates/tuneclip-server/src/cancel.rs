//! Cancellation: a request's work on the blocking pool stops at its next check once
//! the handler is dropped (client gone, deadline passed), and the pool runner that ties
//! the two together ([`blocking`]).

use crate::ServerError;
use std::sync::Arc;
use tonic::Status;

/// Set when a request's handler is dropped (the client went away, or its deadline
/// passed and tonic gave up on it): work on the blocking pool checks it between clips
/// and songs and stops instead of rendering for nobody.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    pub(crate) fn check(&self) -> Result<(), ServerError> {
        if self.is_set() { Err(ServerError::Cancelled) } else { Ok(()) }
    }
}

/// Sets its [`Cancel`] when dropped with the handler's future.
pub(crate) struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Run `work` on the blocking pool holding `permit`; dropping the returned future (client
/// gone, deadline passed) cancels the work at its next check.
pub(crate) async fn blocking<T: Send + 'static>(
    permit: tokio::sync::OwnedSemaphorePermit,
    work: impl FnOnce(&Cancel) -> Result<T, ServerError> + Send + 'static,
) -> Result<T, Status> {
    let cancel = Cancel::default();
    let guard = CancelOnDrop(cancel.clone());
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit; // held until the work is done, even if the client left
        work(&cancel)
    })
    .await
    .map_err(|e| ServerError::Internal(format!("worker failed: {e}")))?;
    drop(guard);
    Ok(result?)
}
