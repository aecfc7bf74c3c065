//! Adding or editing one additional user, and the confirmations of Clear Token and Remove.

use super::*;

/// The mapping as typed, checked by the desk's one set of rules.
pub(super) fn build_mapping(
    dialog: &EditDialog,
    editor: &MappingEditor,
    directory: &[AppUser],
) -> Result<UserMapping, String> {
    let draft = crate::desk::mappings::MappingDraft {
        login: editor.login.clone(),
        exchange_user: editor.exchange_user.clone(),
        server_url: editor.server_url.clone(),
        editing: editor.editing,
    };
    crate::desk::mappings::build_mapping(&dialog.source, &draft, directory).map_err(|p| p.message)
}

pub(super) fn mapping_editor(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let Some(mut editor) = dialog.mapping.take() else {
        return;
    };
    let directory = state
        .data()
        .map(|d| d.directory.clone())
        .unwrap_or_default();
    let mut keep = true;
    let mut request: Option<UserMapping> = None;
    let modal = crate::ui::widgets::nested_modal(ui.ctx(), "mapping-editor", |ui| {
        ui.set_width(520.0);
        ui.heading(state.tr("Additional users"));
        egui::Grid::new("mapping")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                labelled_edit(ui, state.tr("Application user"), &mut editor.login);
                ui.end_row();
                // Directory users matching what is typed; no empty row while none do.
                let needle = editor.login.trim().to_lowercase();
                let matches: Vec<&AppUser> = directory
                    .iter()
                    .filter(|u| {
                        !needle.is_empty()
                            && !u.login.eq_ignore_ascii_case(&needle)
                            && (u.login.to_lowercase().contains(&needle)
                                || u.display_name.to_lowercase().contains(&needle))
                    })
                    .take(8)
                    .collect();
                if !matches.is_empty() {
                    ui.label("");
                    ui.vertical(|ui| {
                        for user in matches {
                            if ui
                                .selectable_label(
                                    false,
                                    format!("{} — {}", user.login, user.display_name),
                                )
                                .clicked()
                            {
                                editor.login = user.login.clone();
                                if editor.exchange_user.is_empty() {
                                    editor.exchange_user = user.email.clone();
                                }
                            }
                        }
                    });
                    ui.end_row();
                }
                labelled_edit(ui, state.tr("Exchange user"), &mut editor.exchange_user);
                ui.end_row();
                labelled_edit(
                    ui,
                    state.tr("Server URL (optional)"),
                    &mut editor.server_url,
                );
                ui.end_row();
            });
        if let Some(error) = &editor.error {
            ui.colored_label(DANGER, crate::ui::errors::sentence(error, state.locale));
        }
        let stored =
            editor.editing.is_some() && dialog.stored_mapping(state.data(), editor.login.trim());
        ui.horizontal(|ui| {
            if ui.button(state.tr("OK")).clicked() {
                match build_mapping(dialog, &editor, &directory) {
                    Ok(mapping) => {
                        dialog.put_mapping(mapping);
                        keep = false;
                    }
                    Err(error) => editor.error = Some(error),
                }
            }
            if ui.button(state.tr("Cancel")).clicked() {
                keep = false;
            }
            if ui
                .button(state.tr(super::exchange_tab::request_label(dialog.microsoft)))
                .clicked()
            {
                match build_mapping(dialog, &editor, &directory) {
                    Ok(mapping) => request = Some(mapping),
                    Err(error) => editor.error = Some(error),
                }
            }
            let can_test = stored && !dialog.testing;
            if ui
                .add_enabled(can_test, egui::Button::new(state.tr("Test Connection")))
                .clicked()
            {
                dialog.test_result = None;
                dialog.testing = true;
                state.send(Command::TestConnection(
                    dialog.target(Some(editor.login.trim())),
                ));
            }
            if !stored {
                ui.label(state.tr("Test Connection works once this user is saved."));
            }
        });
        test_result_ui(state, ui, dialog);
    });
    if modal.should_close() && state.sign_in.is_none() {
        keep = false;
    }
    if let Some(mapping) = request {
        let login = mapping.app_user.login.clone();
        let expected = mapping.exchange_user.clone();
        dialog.put_mapping(mapping);
        let saved = dialog.saved && dialog.stored_mapping(state.data(), &login);
        start_sign_in(state, dialog, Some(&login), expected, saved);
        keep = false;
    }
    if keep {
        dialog.mapping = Some(editor);
    }
}

pub(super) fn confirm_clear(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let Some(target) = dialog.confirm_clear.clone() else {
        return;
    };
    let modal = crate::ui::widgets::nested_modal(ui.ctx(), "confirm-clear", |ui| {
        ui.heading(state.tr("Clear Token"));
        ui.label(state.tr(
            "Clear this token? The connection stays suspended until a new token is requested.",
        ));
        let offered = state
            .data()
            .is_some_and(|data| crate::desk::tokens::revocation_offered(data, &target));
        if offered {
            ui.checkbox(
                &mut dialog.revoke_on_clear,
                state.tr(
                    "Also revoke it at the provider (RFC 7009), so no copy of it works any more",
                ),
            );
        }
        ui.horizontal(|ui| {
            if ui.button(state.tr("Yes")).clicked() {
                dialog.revocation = None;
                state.send(if offered && dialog.revoke_on_clear {
                    Command::RevokeAndClear(target.clone())
                } else {
                    Command::ClearToken(target.clone())
                });
                if target.app_user.is_none() {
                    // "Connection works" described the token that is gone now.
                    dialog.test_result = None;
                }
                dialog.confirm_clear = None;
            }
            if ui.button(state.tr("No")).clicked() {
                dialog.confirm_clear = None;
            }
        });
    });
    if modal.should_close() {
        dialog.confirm_clear = None;
    }
}

pub(super) fn confirm_remove(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let Some(id) = dialog.confirm_remove else {
        return;
    };
    let modal = crate::ui::widgets::nested_modal(ui.ctx(), "confirm-remove", |ui| {
        ui.label(state.tr("Remove this mapping and its token?"));
        ui.horizontal(|ui| {
            if ui.button(state.tr("Remove")).clicked() {
                dialog.source.users.retain(|m| m.id != id);
                dialog.users_version += 1;
                dialog.confirm_remove = None;
            }
            if ui.button(state.tr("Cancel")).clicked() {
                dialog.confirm_remove = None;
            }
        });
    });
    if modal.should_close() {
        dialog.confirm_remove = None;
    }
}
