//! A tool of `scripts/test-windows`, not of the product: prints the security
//! descriptor (owner and DACL, as SDDL) of the named pipe it is given, read back
//! from the pipe itself, and the SID of the user it runs as. Wine runs every
//! process as one user, so the test cannot try the pipe as another user; it
//! checks the ACL that would refuse one instead.
//!
//! Usage: windows_pipe_acl.exe \\.\pipe\NAME

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: windows_pipe_acl \\\\.\\pipe\\NAME");
        return std::process::ExitCode::from(2);
    };
    match acl::read(&name) {
        Ok((descriptor, user)) => {
            println!("sddl {descriptor}");
            println!("user {user}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("windows_pipe_acl: {name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(windows))]
fn main() {
    eprintln!("windows_pipe_acl reads a Windows named pipe's ACL; it runs on Windows only.");
    std::process::exit(2);
}

#[cfg(windows)]
mod acl {
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LocalFree};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
        GetSecurityInfo, SDDL_REVISION_1, SE_KERNEL_OBJECT,
    };
    use windows_sys::Win32::Security::{
        DACL_SECURITY_INFORMATION, GetTokenInformation, OWNER_SECURITY_INFORMATION,
        PSECURITY_DESCRIPTOR, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    const READ_CONTROL: u32 = 0x0002_0000;

    fn wide_to_string(text: *const u16) -> String {
        // SAFETY: a NUL-terminated string from the API, read up to its NUL.
        unsafe {
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
        }
    }

    pub fn read(name: &str) -> std::io::Result<(String, String)> {
        // READ_CONTROL only: enough to read the descriptor, no data is exchanged.
        let pipe = std::fs::OpenOptions::new()
            .access_mode(READ_CONTROL)
            .open(name)?;
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a valid handle; the out pointers are valid; the descriptor is
        // freed below with LocalFree.
        let status = unsafe {
            GetSecurityInfo(
                pipe.as_raw_handle() as HANDLE,
                SE_KERNEL_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut descriptor,
            )
        };
        if status != 0 {
            return Err(std::io::Error::from_raw_os_error(status as i32));
        }
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: the descriptor came from GetSecurityInfo.
        let ok = unsafe {
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                descriptor,
                SDDL_REVISION_1,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                &mut text,
                std::ptr::null_mut(),
            )
        };
        let error = std::io::Error::last_os_error();
        // SAFETY: allocated by the calls above.
        unsafe { LocalFree(descriptor.cast()) };
        if ok == 0 {
            return Err(error);
        }
        let sddl = wide_to_string(text);
        // SAFETY: allocated by ConvertSecurityDescriptorToStringSecurityDescriptorW.
        unsafe { LocalFree(text.cast()) };
        Ok((sddl, current_user_sid()?))
    }

    fn current_user_sid() -> std::io::Result<String> {
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: the pseudo-handle of this process; the out pointer is valid.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut buffer = vec![0u8; 256];
        let mut needed = 0u32;
        // SAFETY: the buffer is as long as said.
        let ok = unsafe {
            GetTokenInformation(
                token,
                TokenUser,
                buffer.as_mut_ptr().cast(),
                buffer.len() as u32,
                &mut needed,
            )
        };
        let error = std::io::Error::last_os_error();
        // SAFETY: opened above.
        unsafe { CloseHandle(token) };
        if ok == 0 {
            return Err(error);
        }
        // SAFETY: GetTokenInformation wrote a TOKEN_USER at the buffer's start.
        let user = unsafe { std::ptr::read_unaligned(buffer.as_ptr().cast::<TOKEN_USER>()) };
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: the SID points into `buffer`, alive here.
        if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let sid = wide_to_string(text);
        // SAFETY: allocated by ConvertSidToStringSidW.
        unsafe { LocalFree(text.cast()) };
        Ok(sid)
    }
}
