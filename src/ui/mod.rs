//! The desktop app: the Intrexx-style *Edit data source* dialog done right.

pub mod app;
pub mod consumers_section;
pub mod edit_dialog;
pub mod errors;
pub mod errors_de;
pub mod i18n;
mod i18n_de;
pub mod import_dialog;
pub mod mailboxes;
pub mod main_window;
pub mod notifiers_section;
mod sentences_de;
pub mod settings_dialog;
pub mod sign_in_dialog;
mod sign_in_steps;
pub mod status_strip;
pub mod store_status;
pub mod store_watch;
pub mod vault_section;
pub mod widgets;
pub mod worker;
mod worker_commands;
mod worker_events;
mod worker_tasks;
mod worker_vault;

use crate::desk::model::{KeySource, SystemClock};
use std::path::PathBuf;
use std::sync::Arc;

pub use app::{AppState, Options, TokendeskApp};

/// The icon for the window and the taskbar, rendered from `assets/tokendesk.svg`.
pub fn app_icon() -> Arc<egui::IconData> {
    const PNG: &[u8] = include_bytes!("../../assets/icons/tokendesk-256.png");
    // The PNG is part of the binary and checked by a test, so decoding cannot fail at
    // run time; an empty icon (the platform default) is still better than no window.
    Arc::new(eframe::icon_data::from_png_bytes(PNG).unwrap_or_default())
}

/// Opens the window and runs until it is closed.
pub fn run(
    vault_dir: PathBuf,
    keys: KeySource,
    passphrase_file: Option<PathBuf>,
) -> Result<(), String> {
    crate::desk::watch::set_face("desk");
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("tokendesk — Connector for Microsoft Exchange")
            .with_app_id("tokendesk")
            .with_icon(app_icon())
            .with_inner_size([1100.0, 700.0])
            .with_min_inner_size([800.0, 480.0]),
        persist_window: true,
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "tokendesk",
        native,
        Box::new(move |_creation| {
            let state = AppState::new(Options {
                vault_dir,
                passphrase_file,
                keys,
                locale: i18n::Locale::detect(),
                clock: Arc::new(SystemClock),
                sign_in_method: crate::desk::sign_in::Method::default_here(),
            });
            Ok(Box::new(TokendeskApp {
                state,
                report_first_frame: std::env::var_os("TOKENDESK_REPORT_FIRST_FRAME").is_some(),
                report_full_frame: std::env::var_os("TOKENDESK_REPORT_FIRST_FRAME").is_some(),
            }))
        }),
    )
    .map_err(|e| format!("The window could not be opened: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_icon_is_the_256_pixel_rendering() {
        let icon = app_icon();
        assert_eq!((icon.width, icon.height), (256, 256));
        assert_eq!(icon.rgba.len(), 256 * 256 * 4);
    }
}
