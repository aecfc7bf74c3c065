//! The Additional users tab: application users mapped to Exchange users, virtualised.

use super::*;

/// A table row: the mapping's index, its state, days and hours left, and whether its
/// end is unknown.
pub(super) type Row = (
    usize,
    TokenState,
    Option<i64>,
    Option<i64>,
    crate::desk::model::policy::Caveat,
);

/// What the sorted rows depend on. Token states move with the clock, so the minute
/// is part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RowsKey {
    filter: String,
    sort: (SortBy, bool),
    users_version: u64,
    vault_generation: u64,
    minute: i64,
}

pub(super) fn sorted_rows(
    dialog: &mut EditDialog,
    data: &VaultData,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Row> {
    let key = RowsKey {
        filter: dialog.filter.trim().to_lowercase(),
        sort: dialog.sort,
        users_version: dialog.users_version,
        vault_generation: data.generation,
        minute: now.timestamp().div_euclid(60),
    };
    if let Some((cached_key, rows)) = &dialog.rows_cache
        && *cached_key == key
    {
        return rows.clone();
    }
    let filter = &key.filter;
    let users = &dialog.source.users;
    let lifetime = policy::Lifetime::of(&dialog.source);
    let mut rows: Vec<Row> = users
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            filter.is_empty()
                || m.app_user.login.to_lowercase().contains(filter)
                || m.app_user.display_name.to_lowercase().contains(filter)
                || m.exchange_user.to_lowercase().contains(filter)
        })
        .map(|(i, m)| {
            let status = policy::evaluate(&m.token, &data.settings, lifetime, now);
            (
                i,
                status.state,
                status.days_left,
                status.hours_left,
                policy::caveat(status.state, status.expires_at, m.token.last_error.as_ref()),
            )
        })
        .collect();
    match dialog.sort.0 {
        SortBy::AppUser => rows.sort_by_cached_key(|r| users[r.0].app_user.login.to_lowercase()),
        SortBy::ExchangeUser => {
            rows.sort_by_cached_key(|r| users[r.0].exchange_user.to_lowercase())
        }
        SortBy::State => rows.sort_by_key(|r| std::cmp::Reverse(r.1)),
        SortBy::DaysLeft => rows.sort_by_key(|r| r.2.unwrap_or(i64::MIN)),
    }
    if !dialog.sort.1 {
        rows.reverse();
    }
    dialog.rows_cache = Some((key, rows.clone()));
    rows
}

pub(super) fn users_tab(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let Some(data) = state.shared_data() else {
        return;
    };
    let now = state.now();
    ui.horizontal(|ui| {
        if ui.button(state.tr("Add")).clicked() {
            dialog.test_result = None;
            dialog.mapping = Some(MappingEditor {
                editing: None,
                login: String::new(),
                exchange_user: String::new(),
                server_url: String::new(),
                error: None,
            });
        }
        if ui.button(state.tr("Import users (CSV)")).clicked() {
            state.import = Some(crate::ui::import_dialog::ImportDialog::default());
        }
        labelled_edit(ui, state.tr("Filter"), &mut dialog.filter);
    });
    let rows = sorted_rows(dialog, &data, now);
    let mut edit: Option<usize> = None;
    let mut remove: Option<usize> = None;
    let columns = [
        (SortBy::AppUser, "Application user"),
        (SortBy::ExchangeUser, "Exchange user"),
        (SortBy::State, "Token"),
        (SortBy::DaysLeft, "Days left"),
    ];
    // Wider than the dialog (long German titles) scrolls sideways: the dialog
    // keeps its width on every tab.
    egui::ScrollArea::horizontal()
        .id_salt("additional-users-wide")
        .show(ui, |ui| {
            // Cells on one line: a row is one line high, a wrapped cell would spill.
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            TableBuilder::new(ui)
                .id_salt("additional-users")
                .striped(true)
                .max_scroll_height(300.0)
                .column(Column::auto().at_least(150.0))
                .column(Column::auto().at_least(170.0))
                .column(Column::auto().at_least(100.0))
                .column(Column::auto().at_least(60.0))
                .column(Column::auto().at_least(110.0))
                .column(Column::remainder())
                .header(22.0, |mut header| {
                    for (sort, title) in columns {
                        header.col(|ui| {
                            let arrow = if dialog.sort.0 == sort {
                                if dialog.sort.1 { " ^" } else { " v" }
                            } else {
                                ""
                            };
                            let title = egui::Button::new(format!("{}{arrow}", state.tr(title)))
                                .wrap_mode(egui::TextWrapMode::Extend);
                            if ui.add(title).clicked() {
                                dialog.sort = if dialog.sort.0 == sort {
                                    (sort, !dialog.sort.1)
                                } else {
                                    (sort, true)
                                };
                            }
                        });
                    }
                    header.col(|ui| {
                        crate::ui::widgets::column_title(ui, state.tr("Expires on"));
                    });
                    header.col(|ui| {
                        crate::ui::widgets::column_title(ui, state.tr("Last error"));
                    });
                })
                .body(|body| {
                    body.rows(22.0, rows.len(), |mut row| {
                        let (index, token_state, days_left, hours_left, caveat) = rows[row.index()];
                        let mapping = &dialog.source.users[index];
                        row.col(|ui| {
                            let response = ui.selectable_label(false, &mapping.app_user.login);
                            if response.double_clicked() {
                                edit = Some(index);
                            }
                            response.context_menu(|ui| {
                                if ui.button(state.tr("Edit")).clicked() {
                                    edit = Some(index);
                                    ui.close();
                                }
                                if ui.button(state.tr("Remove")).clicked() {
                                    remove = Some(index);
                                    ui.close();
                                }
                            });
                        });
                        row.col(|ui| {
                            ui.label(&mapping.exchange_user);
                        });
                        row.col(|ui| {
                            let (words, colour) =
                                crate::ui::widgets::state_text(token_state, caveat);
                            let text = state.tr(words);
                            match colour {
                                Some(color) => ui.colored_label(color, text),
                                None => ui.label(text),
                            };
                        });
                        row.col(|ui| {
                            ui.label(crate::ui::widgets::days_left_text(days_left, hours_left));
                        });
                        row.col(|ui| {
                            let expires = policy::expires_at(
                                &mapping.token,
                                &data.settings,
                                policy::Lifetime::of(&dialog.source),
                            );
                            ui.label(
                                expires
                                    .map(|at| state.locale.date_time(at))
                                    .unwrap_or_else(|| "–".into()),
                            );
                        });
                        row.col(|ui| {
                            if let Some(error) = &mapping.token.last_error {
                                ui.colored_label(
                                    DANGER,
                                    error
                                        .code
                                        .as_deref()
                                        .unwrap_or_else(|| state.tr(error.kind.label())),
                                )
                                .on_hover_text(&error.message);
                            }
                        });
                    });
                });
        });
    if let Some(index) = edit {
        let mapping = &dialog.source.users[index];
        dialog.test_result = None;
        dialog.mapping = Some(MappingEditor {
            editing: Some(mapping.id),
            login: mapping.app_user.login.clone(),
            exchange_user: mapping.exchange_user.clone(),
            server_url: mapping
                .server_url
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            error: None,
        });
    }
    if let Some(index) = remove {
        dialog.confirm_remove = Some(dialog.source.users[index].id);
    }
}
