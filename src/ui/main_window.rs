//! The main window: navigation on the left, the connector's data sources on the
//! right, reminders on top and the health of every mailbox in the status strip.

use egui::{Color32, Key, RichText};
use egui_extras::{Column, TableBuilder};

use super::app::{AppState, Page, VaultView};
use super::edit_dialog::EditDialog;
use super::worker::Command;
use crate::desk::model::{TokenState, VaultData, policy};

pub const WARNING: Color32 = Color32::from_rgb(0xd9, 0x7a, 0x00);
pub const DANGER: Color32 = Color32::from_rgb(0xc6, 0x28, 0x28);

/// A token that needs the admin, for the banner and the status strip.
pub type Attention = crate::desk::status::TokenRow;

/// What the window derives from every token (the attention list, each data
/// source's health), computed once per vault generation and minute: with 10,000
/// tokens one pass costs milliseconds, more than a whole frame may.
#[derive(Default)]
pub struct Derived {
    key: Option<(u64, i64)>,
    attention: std::sync::Arc<Vec<Attention>>,
    pub(crate) health:
        std::sync::Arc<std::collections::HashMap<uuid::Uuid, crate::desk::status::SourceHealth>>,
    /// Tokens the keep-alive would renew now.
    pub(crate) due: usize,
}

impl Derived {
    fn refresh(&mut self, data: &VaultData, now: chrono::DateTime<chrono::Utc>) {
        let key = (data.generation, now.timestamp().div_euclid(60));
        if self.key != Some(key) {
            self.attention = std::sync::Arc::new(crate::desk::status::attention(data, now));
            self.health = std::sync::Arc::new(crate::desk::status::source_health(data, now));
            self.due = crate::desk::status::due_now(data, now);
            self.key = Some(key);
        }
    }
}

pub fn state_color(state: TokenState) -> Option<Color32> {
    match state {
        TokenState::Healthy => None,
        TokenState::ReminderDue => Some(WARNING),
        _ => Some(DANGER),
    }
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui) {
    let data = match &mut state.vault {
        VaultView::Ready(data) => data.clone(),
        VaultView::Opening => {
            egui::CentralPanel::default().show(ui, |ui| {
                ui.spinner();
                ui.label(state.locale.tr("Opening the vault…"));
            });
            return;
        }
        VaultView::Failed { .. } => {
            show_vault_failure(state, ui);
            return;
        }
    };
    let now = state.now();
    state.derived.refresh(&data, now);
    let items = state.derived.attention.clone();

    egui::Panel::bottom("status")
        .show(ui, |ui| super::status_strip::show(state, ui, &data, &items));
    let writable = !state.read_only();
    if !writable {
        egui::Panel::top("store").show(ui, |ui| super::store_status::unreachable(state, ui));
    }
    if !items.is_empty() {
        egui::Panel::top("reminders").show(ui, |ui| {
            ui.add_enabled_ui(writable, |ui| banner(state, ui, &items));
        });
    }
    egui::Panel::left("navigation")
        .resizable(true)
        .default_size(230.0)
        .show(ui, |ui| {
            ui.add_space(6.0);
            egui::CollapsingHeader::new(state.tr("Consume data"))
                .default_open(true)
                .show(ui, |ui| {
                    for (page, title) in [
                        (Page::DataSources, "Connector for Microsoft Exchange"),
                        (Page::Mailboxes, "All mailboxes"),
                    ] {
                        if ui
                            .selectable_label(state.page == page, state.tr(title))
                            .clicked()
                        {
                            state.page = page;
                        }
                    }
                });
            ui.add_space(12.0);
            if ui
                .add_enabled(writable, egui::Button::new(state.tr("Settings")))
                .clicked()
            {
                state.open_settings();
            }
        });
    egui::CentralPanel::default().show(ui, |ui| {
        ui.add_enabled_ui(writable, |ui| match state.page {
            Page::DataSources => data_source_table(state, ui, &data, now),
            Page::Mailboxes => super::mailboxes::show(state, ui, &data),
        })
    });
    confirm_delete(state, ui, &data);
}

/// The banner names this many tokens; the rest are counted, with the way to them.
const BANNER_LINES: usize = 5;

fn banner(state: &mut AppState, ui: &mut egui::Ui, items: &[Attention]) {
    let today = state.now().with_timezone(&chrono::Local).date_naive();
    let locale = state.locale;
    let shown: Vec<&Attention> = items
        .iter()
        .filter(|item| match item.state {
            TokenState::Healthy => false,
            TokenState::ReminderDue => item.reminder_due,
            _ => true,
        })
        .collect();
    if shown.len() > BANNER_LINES {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(
                DANGER,
                RichText::new(locale.fill(
                    "{count} tokens need attention; the most urgent are listed here, all in All mailboxes.",
                    &[("count", &shown.len().to_string())],
                ))
                .strong(),
            );
            if ui.button(state.tr("All mailboxes")).clicked() {
                state.page = Page::Mailboxes;
            }
        });
    }
    let mut shown = shown;
    shown.sort_by_key(|item| std::cmp::Reverse(crate::desk::status::severity(item)));
    for item in shown.into_iter().take(BANNER_LINES) {
        let when = item
            .expires_at
            .map(|at| locale.date_time(at))
            .unwrap_or_default();
        let (template, color, dismissable) = match item.state {
            TokenState::ReminderDue if item.reminder_due => (
                "Exchange token for {account} will expire on {when}. Request a new token in Edit data source to avoid inconvenience.",
                WARNING,
                true,
            ),
            TokenState::ReminderDue => continue,
            TokenState::RenewalForced if item.microsoft => (
                "Exchange token for {account} expires on {when}. Renewal is required now: Edit data source › Exchange account › Request MS365 Refresh Token.",
                DANGER,
                false,
            ),
            TokenState::RenewalForced => (
                "The token for {account} expires on {when}. Renewal is required now: Edit data source › Request Refresh Token.",
                DANGER,
                false,
            ),
            TokenState::Expired => (
                "Exchange token for {account} expired on {when}. Request a new token in Edit data source.",
                DANGER,
                false,
            ),
            TokenState::NeedsSignIn if item.microsoft => (
                "Exchange token for {account} was rejected by Microsoft. {account} must sign in again.",
                DANGER,
                false,
            ),
            TokenState::NeedsSignIn => (
                "The token for {account} was rejected by its provider. {account} must sign in again.",
                DANGER,
                false,
            ),
            TokenState::Missing => (
                "The token for {account} was cleared. Request a new token to resume the connection.",
                WARNING,
                false,
            ),
            TokenState::AtRisk => (
                "The newest token for {account} could not be saved in the vault (disk full or folder not writable) and waits in a rescue file. Free disk space now: tokendesk stores it at the next save.",
                DANGER,
                false,
            ),
            TokenState::Healthy => continue,
        };
        let text = locale.fill(template, &[("account", &item.account), ("when", &when)]);
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(color, RichText::new(text).strong());
            if dismissable && ui.button(state.tr("Dismiss for today")).clicked() {
                state.send(Command::MarkReminderShown {
                    target: item.target.clone(),
                    day: today,
                });
            }
        });
    }
}

fn data_source_table(
    state: &mut AppState,
    ui: &mut egui::Ui,
    data: &VaultData,
    now: chrono::DateTime<chrono::Utc>,
) {
    ui.heading(state.tr("Connector for Microsoft Exchange"));
    ui.horizontal(|ui| {
        if ui.button(state.tr("New data source")).clicked() {
            state.editor = Some(EditDialog::new_source());
        }
        let selected = state
            .selected
            .and_then(|id| data.data_sources.iter().find(|d| d.id == id));
        if ui
            .add_enabled(selected.is_some(), egui::Button::new(state.tr("Edit")))
            .clicked()
            && let Some(source) = selected
        {
            state.editor = Some(EditDialog::edit(source));
        }
        if ui
            .add_enabled(selected.is_some(), egui::Button::new(state.tr("Delete")))
            .clicked()
        {
            state.confirm_delete = state.selected;
        }
    });
    ui.separator();
    if data.data_sources.is_empty() {
        ui.label(state.tr("No data sources yet. Create one with New data source."));
        return;
    }
    let dialogs_open =
        state.editor.is_some() || state.sign_in.is_some() || state.confirm_delete.is_some();
    // Consumed, so the dialog it opens does not take the same press as its OK.
    if !dialogs_open
        && state.selected.is_some()
        && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, Key::Enter))
        && let Some(source) = state
            .selected
            .and_then(|id| data.data_sources.iter().find(|d| d.id == id))
    {
        state.editor = Some(EditDialog::edit(source));
    }
    let mut open: Option<uuid::Uuid> = None;
    let health = state.derived.health.clone();
    // What an admin looks for first stays in view at any width (name, state,
    // time left, the other tokens); the rest scrolls sideways.
    egui::ScrollArea::horizontal()
        .id_salt("data-sources-table")
        .show(ui, |ui| {
            // Cells on one line: a row is one line high, a wrapped cell would spill.
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            data_sources_table(state, ui, data, now, &health, &mut open)
        });
    if let Some(id) = open
        && let Some(source) = data.data_sources.iter().find(|d| d.id == id)
    {
        state.selected = Some(id);
        state.editor = Some(EditDialog::edit(source));
    }
}

fn data_sources_table(
    state: &mut AppState,
    ui: &mut egui::Ui,
    data: &VaultData,
    now: chrono::DateTime<chrono::Utc>,
    health: &std::collections::HashMap<uuid::Uuid, crate::desk::status::SourceHealth>,
    open: &mut Option<uuid::Uuid>,
) {
    TableBuilder::new(ui)
        .striped(true)
        .column(Column::auto().at_least(150.0))
        .column(Column::auto().at_least(110.0))
        .column(Column::auto().at_least(80.0))
        .column(Column::auto().at_least(150.0))
        .column(Column::auto().at_least(190.0))
        .column(Column::auto().at_least(110.0))
        .column(Column::remainder().at_least(170.0))
        .header(22.0, |mut header| {
            for title in [
                "Name",
                "Token",
                "Days left",
                "All tokens",
                "Exchange account",
                "Additional users",
                "Tenant or provider",
            ] {
                header.col(|ui| {
                    crate::ui::widgets::column_title(ui, state.tr(title));
                });
            }
        })
        .body(|mut body| {
            for source in &data.data_sources {
                let status = policy::evaluate(
                    &source.token,
                    &data.settings,
                    policy::Lifetime::of(source),
                    now,
                );
                body.row(22.0, |mut row| {
                    row.col(|ui| {
                        let response =
                            ui.selectable_label(state.selected == Some(source.id), &source.name);
                        if response.clicked() {
                            state.selected = Some(source.id);
                        }
                        if response.double_clicked() {
                            *open = Some(source.id);
                        }
                        response.context_menu(|ui| {
                            if ui.button(state.tr("Edit")).clicked() {
                                *open = Some(source.id);
                                ui.close();
                            }
                            if ui.button(state.tr("Delete")).clicked() {
                                state.confirm_delete = Some(source.id);
                                ui.close();
                            }
                        });
                    });
                    row.col(|ui| {
                        let (words, colour) = crate::ui::widgets::state_text(
                            status.state,
                            policy::caveat(
                                status.state,
                                status.expires_at,
                                source.token.last_error.as_ref(),
                            ),
                        );
                        let label = state.tr(words);
                        match colour {
                            Some(color) => ui.colored_label(color, label),
                            None => ui.label(label),
                        };
                    });
                    row.col(|ui| {
                        ui.label(crate::ui::widgets::days_left_text(
                            status.days_left,
                            status.hours_left,
                        ));
                    });
                    row.col(|ui| {
                        if let Some(health) = health.get(&source.id) {
                            all_tokens_cell(state, ui, health);
                        }
                    });
                    row.col(|ui| {
                        ui.label(&source.account.email);
                    });
                    row.col(|ui| {
                        ui.label(source.users.len().to_string());
                    });
                    row.col(|ui| {
                        ui.label(source.provider.authority.display_name());
                    });
                });
            }
        });
}

/// The worst state among a data source's tokens and how many need the admin, so
/// an additional user's trouble shows without opening the dialog.
fn all_tokens_cell(
    state: &AppState,
    ui: &mut egui::Ui,
    health: &crate::desk::status::SourceHealth,
) {
    let (words, colour) = crate::ui::widgets::state_text(health.worst, health.caveat);
    let worst = state.tr(words);
    let text = if health.need_action > 0 {
        state.locale.fill(
            "{worst} · {count} need action",
            &[("worst", worst), ("count", &health.need_action.to_string())],
        )
    } else {
        worst.to_string()
    };
    match colour {
        Some(color) if health.need_action > 0 || health.worst != TokenState::Missing => {
            ui.colored_label(color, text)
        }
        _ => ui.label(text),
    };
}

fn confirm_delete(state: &mut AppState, ui: &mut egui::Ui, data: &VaultData) {
    let Some(id) = state.confirm_delete else {
        return;
    };
    let Some(removal) = crate::desk::data_sources::removal(data, id) else {
        state.confirm_delete = None;
        return;
    };
    let modal = crate::ui::widgets::stable_modal("confirm-delete").show(ui.ctx(), |ui| {
        ui.set_max_width(560.0);
        ui.heading(&removal.name);
        ui.label(state.tr("Delete this data source and all its tokens?"));
        gone_with_it(state, ui, &removal);
        ui.horizontal(|ui| {
            if ui.button(state.tr("Delete")).clicked() {
                state.send(Command::DeleteDataSource(id));
                state.confirm_delete = None;
                if state.selected == Some(id) {
                    state.selected = None;
                }
            }
            if ui.button(state.tr("Cancel")).clicked() {
                state.confirm_delete = None;
            }
        });
    });
    if modal.should_close() {
        state.confirm_delete = None;
    }
}

/// The additional users and consumers that go with a data source, named.
fn gone_with_it(state: &AppState, ui: &mut egui::Ui, removal: &crate::desk::data_sources::Removal) {
    if !removal.users.is_empty() {
        ui.label(state.locale.fill(
            "Its {count} additional user(s) and their tokens:",
            &[("count", &removal.users.len().to_string())],
        ));
        egui::ScrollArea::vertical()
            .id_salt("delete-users")
            .max_height(140.0)
            .show(ui, |ui| {
                for user in &removal.users {
                    ui.label(format!("  {user}"));
                }
            });
    }
    if !removal.consumers.is_empty() {
        ui.label(state.locale.fill(
            "Its consumers, whose keys stop working: {names}",
            &[("names", &removal.consumers.join(", "))],
        ));
    }
}

fn show_vault_failure(state: &mut AppState, ui: &mut egui::Ui) {
    let mut retry: Option<Option<String>> = None;
    let mut restore = false;
    let title = state.tr("The vault could not be opened");
    let passphrase_label = state.tr("Passphrase");
    let unlock = state.tr("Unlock");
    let restore_label = state.tr("Restore backup");
    if let VaultView::Failed {
        message,
        passphrase,
    } = &mut state.vault
    {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading(title);
            ui.colored_label(DANGER, message.as_str());
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                let label = ui.label(passphrase_label);
                ui.add(egui::TextEdit::singleline(passphrase).password(true))
                    .labelled_by(label.id);
                if ui.button(unlock).clicked() {
                    retry = Some(Some(passphrase.clone()));
                }
            });
            if ui.button(restore_label).clicked() {
                restore = true;
            }
        });
    }
    if let Some(passphrase) = retry {
        state.retry_open(passphrase);
    } else if restore {
        state.restore_backup();
    }
}
