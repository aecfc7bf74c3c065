// A window program on Windows: started from the Start menu it opens no console.
// Commands run from a terminal attach to that terminal's console (see below).
#![cfg_attr(windows, windows_subsystem = "windows")]

use std::process::ExitCode;

fn main() -> ExitCode {
    // First, while this is the only thread: secrets out of the environment, and no
    // core dumps of a process that will hold them.
    tokendesk::hardening::take_env_secrets();
    tokendesk::hardening::forbid_core_dumps();
    attach_to_parent_console();
    tokendesk::logging::explain_panics();
    // Logging starts in `run`, after the one command that answers without it.
    tokendesk::cli::run(tokendesk::cli::parse())
}

/// A GUI-subsystem program has no console of its own; when started from cmd.exe or
/// PowerShell, print into theirs. Redirected output (pipes, files) works either way.
#[cfg(windows)]
fn attach_to_parent_console() {
    use windows_sys::Win32::System::Console::{ATTACH_PARENT_PROCESS, AttachConsole};
    // SAFETY: AttachConsole only reads its argument; failing (no parent console) is fine.
    unsafe {
        AttachConsole(ATTACH_PARENT_PROCESS);
    }
}

#[cfg(not(windows))]
fn attach_to_parent_console() {}
