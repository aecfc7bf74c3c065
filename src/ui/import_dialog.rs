//! Import users (CSV), from the Additional users tab: a file's users previewed with
//! every problem by line before anything is written; then all or nothing.

use egui::RichText;

use super::app::AppState;
use super::main_window::DANGER;
use super::worker::Command;
use crate::desk::model::AppUser;

/// How many users the preview lists; the count says how many there are.
const PREVIEW_ROWS: usize = 8;

#[derive(Default)]
pub struct ImportDialog {
    pub path: String,
    pub busy: bool,
    /// The file's users, or why it cannot be imported (lines named).
    pub preview: Option<Result<Vec<AppUser>, String>>,
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui) {
    let Some(mut dialog) = state.import.take() else {
        return;
    };
    let mut keep = true;
    let modal = super::widgets::nested_modal(ui.ctx(), "import-users", |ui| {
        ui.set_width(560.0);
        ui.heading(state.tr("Import users (CSV)"));
        ui.label(state.tr(
            "A CSV file with a header row: login, display name and e-mail (comma, semicolon or tab separated).",
        ));
        ui.horizontal(|ui| {
            let label = ui.label(state.tr("File"));
            let edit = ui
                .add(egui::TextEdit::singleline(&mut dialog.path).desired_width(360.0))
                .labelled_by(label.id);
            if edit.changed() {
                dialog.preview = None;
            }
            let path = dialog.path.trim();
            if ui
                .add_enabled(
                    !path.is_empty() && !dialog.busy,
                    egui::Button::new(state.tr("Preview")),
                )
                .clicked()
            {
                dialog.busy = true;
                dialog.preview = None;
                state.send(Command::PreviewImport(path.into()));
            }
        });
        if dialog.busy {
            ui.spinner();
        }
        let mut import: Option<Vec<AppUser>> = None;
        match &dialog.preview {
            Some(Ok(users)) => {
                ui.label(state.locale.fill(
                    "{count} user(s) in the file, every row checked:",
                    &[("count", &users.len().to_string())],
                ));
                egui::Grid::new("import-preview")
                    .striped(true)
                    .show(ui, |ui| {
                        for title in ["Login", "Display name", "E-mail"] {
                            ui.strong(state.tr(title));
                        }
                        ui.end_row();
                        for user in users.iter().take(PREVIEW_ROWS) {
                            ui.label(&user.login);
                            ui.label(&user.display_name);
                            ui.label(&user.email);
                            ui.end_row();
                        }
                    });
                if users.len() > PREVIEW_ROWS {
                    ui.label(RichText::new("…").weak());
                }
                if ui.button(state.tr("Import")).clicked() {
                    import = Some(users.clone());
                }
            }
            Some(Err(problems)) => {
                ui.colored_label(DANGER, problems.as_str());
                ui.label(state.tr("Nothing was imported. Fix the lines named and preview again."));
            }
            None => {}
        }
        if let Some(users) = import {
            state.send(Command::ImportUsers {
                users,
                from: dialog.path.trim().to_string(),
            });
            keep = false;
        }
        if ui.button(state.tr("Close")).clicked() {
            keep = false;
        }
    });
    if modal.should_close() {
        keep = false;
    }
    if keep {
        state.import = Some(dialog);
    }
}
