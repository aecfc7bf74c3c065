//! Windows' local channel: a named pipe whose ACL admits only the user the
//! gateway runs as, refusing remote clients. Its name comes from the vault
//! folder, so each vault has its own and `tokendesk token` finds it without
//! configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::windows::named_pipe::{ClientOptions, ServerOptions};
use tokio_util::sync::CancellationToken;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_PIPE_BUSY, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::Gateway;
use super::local::{ANSWER_LIMIT, answer};

fn pipe_name(dir: &Path) -> String {
    crate::desk::vault_file::gateway_pipe_name(dir)
}

pub(super) fn serve(
    dir: &Path,
    gateway: Arc<Gateway>,
    stop: CancellationToken,
) -> std::io::Result<PathBuf> {
    let name = pipe_name(dir);
    let security = UserOnly::new()?;
    // A gateway already serving this vault answers on its pipe. Windows would
    // also refuse our first instance below (FILE_FLAG_FIRST_PIPE_INSTANCE), but
    // Wine creates it anyway, and two gateways on one vault must never run.
    match ClientOptions::new().open(&name) {
        Ok(_) => return Err(std::io::Error::from(std::io::ErrorKind::AddrInUse)),
        Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
            return Err(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        }
        Err(_) => {}
    }
    // The first instance fails when another gateway made one since.
    let mut server = security.create(&name, true)?;
    let pipe = name.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                connected = server.connect() => {
                    if connected.is_err() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
            // The next instance exists before this one is handed over, so a client
            // never finds the pipe missing.
            let next = match security.create(&pipe, false) {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "the gateway's pipe could not take another client");
                    return;
                }
            };
            let client = std::mem::replace(&mut server, next);
            let gateway = gateway.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(ANSWER_LIMIT, answer(client, gateway)).await;
            });
        }
    });
    Ok(PathBuf::from(name))
}

/// Opens the pipe of the vault in `dir`, waiting briefly while all its instances
/// are busy; `None` when no gateway serves it. Blocking (std I/O, no runtime).
pub(super) fn connect_blocking(dir: &Path) -> Option<std::fs::File> {
    let name = pipe_name(dir);
    for _ in 0..10 {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&name)
        {
            Ok(pipe) => return Some(pipe),
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => return None,
        }
    }
    None
}

/// Whether the gateway's answer starts arriving on `pipe` within `limit`: a read
/// on a pipe opened as a file would wait without end for a stalled gateway.
pub(super) fn answer_within(pipe: &std::fs::File, limit: Duration) -> bool {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::System::Pipes::PeekNamedPipe;
    let until = std::time::Instant::now() + limit;
    let mut pause = Duration::from_micros(100);
    loop {
        let mut available: u32 = 0;
        // SAFETY: the handle is the open pipe's; only the byte count is written.
        let ok = unsafe {
            PeekNamedPipe(
                pipe.as_raw_handle() as HANDLE,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                &mut available,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            // A broken pipe: the read that follows says so at once.
            return true;
        }
        if available > 0 {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// A security descriptor granting everything to this process's user and nothing
/// to anyone else (not even Administrators), protected from inherited entries.
struct UserOnly {
    descriptor: PSECURITY_DESCRIPTOR,
}

// SAFETY: the descriptor is immutable after creation and only read by
// CreateNamedPipeW; it is freed once, on drop.
unsafe impl Send for UserOnly {}
unsafe impl Sync for UserOnly {}

impl UserOnly {
    fn new() -> std::io::Result<Self> {
        let sid = current_user_sid()?;
        let sddl: Vec<u16> = format!("D:P(A;;GA;;;{sid})")
            .encode_utf16()
            .chain(Some(0))
            .collect();
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `sddl` is NUL-terminated; the out pointer is valid.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(UserOnly { descriptor })
    }

    fn create(
        &self,
        name: &str,
        first: bool,
    ) -> std::io::Result<tokio::net::windows::named_pipe::NamedPipeServer> {
        let mut attributes = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.descriptor,
            bInheritHandle: 0,
        };
        // SAFETY: `attributes` and the descriptor it points to outlive the call.
        unsafe {
            ServerOptions::new()
                .first_pipe_instance(first)
                .reject_remote_clients(true)
                .create_with_security_attributes_raw(
                    name,
                    (&mut attributes as *mut SECURITY_ATTRIBUTES).cast(),
                )
        }
    }
}

impl Drop for UserOnly {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe {
            LocalFree(self.descriptor.cast());
        }
    }
}

/// This process's user as an SID string (`S-1-5-21-…`).
fn current_user_sid() -> std::io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; `token` is closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let result = (|| {
        let mut needed = 0u32;
        // SAFETY: asks only for the size.
        unsafe {
            GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut needed);
        }
        // u64 words keep TOKEN_USER's pointer aligned.
        let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
        // SAFETY: the buffer holds `needed` bytes.
        if unsafe {
            GetTokenInformation(
                token,
                TokenUser,
                buffer.as_mut_ptr().cast(),
                needed,
                &mut needed,
            )
        } == 0
        {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: GetTokenInformation(TokenUser) filled a TOKEN_USER.
        let user = unsafe { &*(buffer.as_ptr().cast::<TOKEN_USER>()) };
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: the SID lives in `buffer`; `text` is freed below.
        if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a NUL-terminated wide string from ConvertSidToStringSidW.
        let sid = unsafe {
            let length = (0..).take_while(|&i| *text.add(i) != 0).count();
            let sid = String::from_utf16_lossy(std::slice::from_raw_parts(text, length));
            LocalFree(text.cast());
            sid
        };
        Ok(sid)
    })();
    // SAFETY: opened above.
    unsafe {
        CloseHandle(token);
    }
    result
}
