//! The gateway's heap: one malloc arena for the whole process.
//!
//! glibc gives each thread that allocates its own arena (up to eight per core).
//! A gateway is a long-running process whose records are read by several
//! threads (the vault's rows are opened and parsed on every core, the runtimes'
//! workers, blocking tasks); each arena keeps its own free pages and its own
//! fragments, and a gateway serving 10,000 mappings held about 4 MiB more with
//! them than with one (docs/PERFORMANCE.md). The gateway waits on the network,
//! not on malloc's lock, so one arena costs it nothing measurable.

/// Asks for one arena; called first thing in `serve`, before any thread exists.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes how later allocations pick an arena; it is
    // called before the process starts its threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
