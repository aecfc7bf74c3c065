//! The store's own small runtime: the vault's interface is synchronous and is
//! called from plain threads and from inside other runtimes alike, so each call
//! runs its work here and waits for the answer on a channel.

use std::time::Duration;

use super::StoreError;

/// The store's own runtime. Dropped without waiting for its tasks, so a store
/// may be dropped inside the caller's runtime (which a plain runtime forbids).
pub(crate) struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for OwnRuntime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("the runtime lives until drop")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

pub(super) fn new_runtime() -> Result<OwnRuntime, StoreError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tokendesk-store")
        .enable_all()
        .build()
        .map(|runtime| OwnRuntime(Some(runtime)))
        .map_err(|e| StoreError::Stopped(e.to_string()))
}

/// Runs `work` on the store's runtime and waits for it, from any thread.
pub(super) fn run<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (answer, wait) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = answer.send(work.await);
    });
    wait.recv_timeout(Duration::from_secs(120))
        .map_err(|e| StoreError::Stopped(e.to_string()))?
}
