//! The async runtime the CLI and the GUI's worker run their network calls on:
//! two threads are plenty for a handful of concurrent token requests.

pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
