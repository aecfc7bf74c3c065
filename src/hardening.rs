//! What a process that holds refresh tokens and the vault key does to itself first:
//! secrets given in the environment are taken out of it, so no child (the browser
//! opener, a browser, a scheduler tool) inherits them, and the process cannot be
//! dumped to disk or attached to by another process of the same user.

use std::sync::OnceLock;

use crate::Secret;

pub const PASSPHRASE_VAR: &str = "TOKENDESK_PASSPHRASE";
pub const BUNDLE_PASSPHRASE_VAR: &str = "TOKENDESK_BUNDLE_PASSPHRASE";

struct EnvSecrets {
    passphrase: Option<Secret>,
    bundle_passphrase: Option<Secret>,
}

static TAKEN: OnceLock<EnvSecrets> = OnceLock::new();

/// Moves the secret environment variables into memory and out of the process
/// environment. Call at the very start of `main`, before any thread exists.
pub fn take_env_secrets() {
    let secrets = EnvSecrets {
        passphrase: from_env(PASSPHRASE_VAR),
        bundle_passphrase: from_env(BUNDLE_PASSPHRASE_VAR),
    };
    let _ = TAKEN.set(secrets);
    // SAFETY: called from `main` before the runtime, the window or any other thread
    // starts, so nothing reads the environment concurrently.
    unsafe {
        std::env::remove_var(PASSPHRASE_VAR);
        std::env::remove_var(BUNDLE_PASSPHRASE_VAR);
    }
}

fn from_env(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// The vault passphrase given in the environment, if any. Used as a library (the
/// tests) nothing was taken, and the environment is read as it is.
pub fn env_passphrase() -> Option<Secret> {
    match TAKEN.get() {
        Some(taken) => taken.passphrase.clone(),
        None => from_env(PASSPHRASE_VAR),
    }
}

/// The export bundle's passphrase given in the environment, if any.
pub fn env_bundle_passphrase() -> Option<Secret> {
    match TAKEN.get() {
        Some(taken) => taken.bundle_passphrase.clone(),
        None => from_env(BUNDLE_PASSPHRASE_VAR),
    }
}

/// No core dump of this process (it would hold the passphrase, the vault key and
/// refresh tokens in clear), and no ptrace attach or /proc memory reads by other
/// processes of the same user (`gcore`, debuggers). Where the OS has no such switch
/// (Windows), nothing is changed.
pub fn forbid_core_dumps() {
    #[cfg(unix)]
    {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls on this process with valid arguments.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &none);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        unsafe {
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        }
    }
}
