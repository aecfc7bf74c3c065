//! The two things tokendesk asks of the desktop: put the user code on the clipboard
//! and open the sign-in page.

use url::Url;

use crate::identity::config::check_endpoint_url;

/// Opens `url` in the default browser. Only https pages, or http on this machine,
/// are opened: the URL came from the network.
pub fn open_in_browser(url: &Url) -> Result<(), String> {
    check_endpoint_url(url)?;
    open::that(url.as_str())
        .map_err(|e| format!("No browser could be started ({e}). Open {url} yourself."))
}

/// Copies the user code (never a token) to the system clipboard. On X11 the text
/// stays available only while the returned handle lives.
pub fn copy_to_clipboard(text: &str) -> Result<arboard::Clipboard, String> {
    let mut clipboard =
        arboard::Clipboard::new().map_err(|e| format!("no clipboard available ({e})"))?;
    clipboard
        .set_text(text.to_string())
        .map_err(|e| format!("the clipboard refused the text ({e})"))?;
    Ok(clipboard)
}

/// Whether a browser on this screen can reach tokendesk's loopback listener: a
/// desktop session here, not a shell over SSH (where the browser runs elsewhere).
pub fn is_local_desktop() -> bool {
    let over_ssh = ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if over_ssh {
        return false;
    }
    if cfg!(any(windows, target_os = "macos")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}
