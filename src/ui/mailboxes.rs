//! All mailboxes: every token of every data source in one virtualised table, most
//! urgent first, filtered by state and text, with actions on the selected rows —
//! renew, request new tokens one sign-in after another, clear.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use egui::RichText;
use egui_extras::{Column, TableBuilder};

use super::app::AppState;
use super::i18n::Locale;
use super::main_window::DANGER;
use super::sign_in_dialog::SignInDialog;
use super::worker::Command;
use crate::desk::model::{TokenState, TokenTarget, VaultData};
use crate::desk::status::{TokenRow, token_rows};
use crate::desk::tokens::RenewReport;

/// The states the filter offers, in the order of the dropdown.
const STATE_FILTERS: [TokenState; 7] = [
    TokenState::Healthy,
    TokenState::ReminderDue,
    TokenState::RenewalForced,
    TokenState::Expired,
    TokenState::NeedsSignIn,
    TokenState::Missing,
    TokenState::AtRisk,
];

/// What the rows depend on: token states move with the clock, so the minute is
/// part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowsKey {
    /// The dates are formatted in the language of the moment.
    lang: crate::ui::i18n::Lang,
    generation: u64,
    minute: i64,
    text: String,
    state: Option<TokenState>,
}

#[derive(Default)]
pub struct MailboxesView {
    pub text: String,
    pub state: Option<TokenState>,
    /// Selected tokens by their stable id (survives renames and re-sorting).
    pub selected: BTreeSet<crate::desk::model::TokenId>,
    rows: Option<(RowsKey, Arc<Vec<TokenRow>>)>,
    /// The two dates of each row drawn so far, formatted once per rows refresh
    /// (local time and the locale's format cost more than the rest of a row).
    dates: std::collections::HashMap<crate::desk::model::TokenId, (String, String)>,
    pub confirm_clear: bool,
    /// The Clear dialog's "also revoke at the provider" box.
    pub revoke_on_clear: bool,
    pub renewing: bool,
    /// The last action's outcome, in the admin's language.
    pub outcome: Option<Result<String, String>>,
    /// The selection that action was for: another selection makes it history.
    outcome_for: BTreeSet<crate::desk::model::TokenId>,
}

impl MailboxesView {
    /// The shown rows, computed once per vault generation, minute and filter.
    pub fn rows(
        &mut self,
        data: &VaultData,
        now: chrono::DateTime<chrono::Utc>,
        lang: crate::ui::i18n::Lang,
    ) -> Arc<Vec<TokenRow>> {
        let key = RowsKey {
            lang,
            generation: data.generation,
            minute: now.timestamp().div_euclid(60),
            text: self.text.trim().to_lowercase(),
            state: self.state,
        };
        if let Some((cached, rows)) = &self.rows
            && *cached == key
        {
            return rows.clone();
        }
        let rows = Arc::new(crate::desk::status::mailboxes(
            token_rows(data, None, now),
            &key.text,
            key.state,
        ));
        self.rows = Some((key, rows.clone()));
        self.dates.clear();
        rows
    }

    /// The selected tokens that are still shown, in table order.
    fn chosen(&self, rows: &[TokenRow]) -> Vec<TokenRow> {
        rows.iter()
            .filter(|row| self.selected.contains(&row.id))
            .cloned()
            .collect()
    }
}

/// Sign-ins asked for several tokens at once, started one after another.
#[derive(Default)]
pub struct SignInQueue {
    pub waiting: VecDeque<TokenTarget>,
    pub total: usize,
}

impl SignInQueue {
    pub fn position(&self) -> Option<(usize, usize)> {
        (self.total > 1).then(|| (self.total - self.waiting.len(), self.total))
    }
}

/// Opens the next queued sign-in once no sign-in dialog is open.
pub fn start_next_sign_in(state: &mut AppState) {
    if state.sign_in.is_some() {
        return;
    }
    let Some(data) = state.shared_data() else {
        return;
    };
    while let Some(target) = state.sign_in_queue.waiting.pop_front() {
        let Ok(owner) = data.owner(&target) else {
            continue;
        };
        let dialog = SignInDialog::new(
            target.clone(),
            owner.account().to_string(),
            true,
            &owner.source.provider,
        )
        .with_graph_root(owner.source.account.api_root.clone())
        .with_redirect_uri(owner.source.redirect_uri.as_deref())
        .with_method(state.sign_in_method);
        state.send(dialog.start_command(state.locale.lang));
        state.sign_in = Some(dialog);
        return;
    }
    state.sign_in_queue.total = 0;
}

pub fn renew_finished(state: &mut AppState, result: Result<RenewReport, String>) {
    let locale = state.locale;
    state.mailboxes.renewing = false;
    let at = locale.date_time(state.now());
    state.mailboxes.outcome = Some(result.map(|report| {
        // Dated: it describes that run, not the rows as they stand later.
        locale.fill(
            "Renewal {when}: {summary}",
            &[
                ("when", &at),
                (
                    "summary",
                    &super::widgets::run_summary(locale, &report.counts()),
                ),
            ],
        )
    }));
}

pub fn revoke_finished(
    state: &mut AppState,
    result: Result<crate::desk::tokens::RevokeReport, crate::desk::DeskError>,
) {
    let locale = state.locale;
    state.mailboxes.renewing = false;
    let at = locale.date_time(state.now());
    state.mailboxes.outcome = Some(match result {
        Err(error) => Err(super::errors::describe(&error, locale)),
        Ok(report) => {
            let summary = locale.fill(
                "Clear {when}: {revoked} revoked at the provider and cleared, {cleared} cleared here only, {refused} left as they were.",
                &[
                    ("when", &at),
                    ("revoked", &report.revoked.to_string()),
                    ("cleared", &report.cleared_only.to_string()),
                    ("refused", &report.refused.len().to_string()),
                ],
            );
            match report.refused.first() {
                None => Ok(summary),
                Some((target, error)) => Err(format!(
                    "{summary} {target}: {}",
                    super::errors::describe(error, locale)
                )),
            }
        }
    });
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui, data: &VaultData) {
    let now = state.now();
    let locale = state.locale;
    ui.heading(state.tr("All mailboxes"));
    ui.horizontal(|ui| {
        let label = ui.label(state.tr("Filter"));
        ui.add(egui::TextEdit::singleline(&mut state.mailboxes.text).desired_width(220.0))
            .labelled_by(label.id);
        let shown = state
            .mailboxes
            .state
            .map_or(state.tr("Every state"), |s| state.tr(s.label()));
        let state_label = ui.label(locale.tr("State"));
        egui::ComboBox::from_id_salt("mailbox-state")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.mailboxes.state, None, locale.tr("Every state"));
                for filter in STATE_FILTERS {
                    ui.selectable_value(
                        &mut state.mailboxes.state,
                        Some(filter),
                        locale.tr(filter.label()),
                    );
                }
            })
            .response
            .labelled_by(state_label.id);
    });
    if state.mailboxes.outcome.is_some() && state.mailboxes.selected != state.mailboxes.outcome_for
    {
        state.mailboxes.outcome = None;
    }
    let rows = state.mailboxes.rows(data, now, locale.lang);
    let chosen = state.mailboxes.chosen(&rows);
    ui.horizontal_wrapped(|ui| {
        ui.label(locale.fill(
            "{shown} of {total} tokens shown, {selected} selected",
            &[
                ("shown", &rows.len().to_string()),
                ("total", &data.each_token().count().to_string()),
                ("selected", &chosen.len().to_string()),
            ],
        ));
        if ui.button(state.tr("Select all shown")).clicked() {
            state.mailboxes.selected.extend(rows.iter().map(|r| r.id));
        }
        if ui.button(state.tr("Select none")).clicked() {
            state.mailboxes.selected.clear();
        }
        ui.separator();
        let any = !chosen.is_empty();
        let busy = state.mailboxes.renewing;
        if ui
            .add_enabled(any && !busy, egui::Button::new(state.tr("Renew selected")))
            .clicked()
        {
            state.mailboxes.renewing = true;
            state.mailboxes.outcome = None;
            state.mailboxes.outcome_for = state.mailboxes.selected.clone();
            state.send(Command::Renew(
                chosen.iter().map(|r| r.target.clone()).collect(),
            ));
        }
        if ui
            .add_enabled(
                any && state.sign_in.is_none(),
                egui::Button::new(state.tr("Request new tokens")),
            )
            .clicked()
        {
            state.sign_in_queue.waiting = chosen.iter().map(|r| r.target.clone()).collect();
            state.sign_in_queue.total = chosen.len();
            start_next_sign_in(state);
        }
        if ui
            .add_enabled(any, egui::Button::new(state.tr("Clear")))
            .clicked()
        {
            state.mailboxes.confirm_clear = true;
        }
        if busy {
            ui.spinner();
        }
        match &state.mailboxes.outcome {
            Some(Ok(summary)) => {
                ui.label(summary.as_str());
            }
            Some(Err(error)) => {
                ui.colored_label(DANGER, error.as_str());
            }
            None => {}
        }
    });
    ui.separator();
    table(state, ui, &rows);
    confirm_clear(state, ui, data, &chosen);
}

/// The state and the time left come first and the rest scrolls sideways, so a
/// narrow window still shows what needs the admin.
fn table(state: &mut AppState, ui: &mut egui::Ui, rows: &[TokenRow]) {
    let locale = state.locale;
    let view = &mut state.mailboxes;
    egui::ScrollArea::horizontal()
        .id_salt("mailboxes-table")
        .show(ui, |ui| {
            // Cells on one line: a row is one line high, a wrapped cell would spill.
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            rows_table(locale, view, ui, rows)
        });
}

fn rows_table(locale: Locale, view: &mut MailboxesView, ui: &mut egui::Ui, rows: &[TokenRow]) {
    TableBuilder::new(ui)
        .striped(true)
        .column(Column::exact(24.0))
        .column(Column::auto().at_least(120.0))
        .column(Column::auto().at_least(120.0))
        .column(Column::auto().at_least(110.0))
        .column(Column::auto().at_least(70.0))
        .column(Column::auto().at_least(90.0))
        .column(Column::auto().at_least(190.0))
        .column(Column::auto().at_least(130.0))
        .column(Column::remainder().at_least(130.0))
        .header(22.0, |mut header| {
            for title in [
                "",
                "Data source",
                "Application user",
                "Token",
                "Days left",
                "Last error",
                "Exchange account",
                "Expires",
                "Last renewal",
            ] {
                header.col(|ui| {
                    crate::ui::widgets::column_title(ui, locale.tr(title));
                });
            }
        })
        .body(|body| {
            body.rows(22.0, rows.len(), |mut table_row| {
                let row = &rows[table_row.index()];
                table_row.col(|ui| {
                    let mut on = view.selected.contains(&row.id);
                    if ui
                        .checkbox(&mut on, "")
                        .on_hover_text(locale.tr("Select"))
                        .changed()
                    {
                        if on {
                            view.selected.insert(row.id);
                        } else {
                            view.selected.remove(&row.id);
                        }
                    }
                });
                table_row.col(|ui| {
                    ui.label(&row.target.data_source);
                });
                table_row.col(|ui| {
                    ui.label(row.target.app_user.as_deref().unwrap_or("–"));
                });
                let (expires, renewed) = view.dates.entry(row.id).or_insert_with(|| {
                    // "unknown" only for a token whose end nobody stated; no token, no date.
                    let expires = match (row.expires_at, row.state) {
                        (Some(at), _) => locale.date_time(at),
                        (None, TokenState::Missing) => "–".to_string(),
                        (None, _) => locale.tr("unknown").to_string(),
                    };
                    let renewed = row
                        .last_renewed_at
                        .map_or_else(|| "–".to_string(), |at| locale.date_time(at));
                    (expires, renewed)
                });
                let (expires, renewed) = (expires.clone(), renewed.clone());
                table_row.col(|ui| {
                    let (words, colour) = crate::ui::widgets::state_text(row.state, row.caveat());
                    let label = locale.tr(words);
                    match colour {
                        Some(color) => ui.colored_label(color, label),
                        None => ui.label(label),
                    };
                });
                table_row.col(|ui| {
                    ui.label(crate::ui::widgets::days_left_text(
                        row.days_left,
                        row.hours_left,
                    ));
                });
                table_row.col(|ui| {
                    if let Some(error) = &row.last_error {
                        // A failure without a provider's code still names its kind.
                        let what = error
                            .code
                            .as_deref()
                            .unwrap_or_else(|| locale.tr(error.kind.label()));
                        ui.label(RichText::new(what).color(DANGER))
                            .on_hover_text(&error.message);
                    }
                });
                table_row.col(|ui| {
                    ui.label(&row.account);
                });
                table_row.col(|ui| {
                    ui.label(expires);
                });
                table_row.col(|ui| {
                    ui.label(renewed);
                });
            });
        });
}

fn confirm_clear(state: &mut AppState, ui: &mut egui::Ui, data: &VaultData, chosen: &[TokenRow]) {
    if !state.mailboxes.confirm_clear {
        return;
    }
    let revocable = chosen
        .iter()
        .filter(|row| crate::desk::tokens::revocation_offered(data, &row.target))
        .count();
    let modal = super::widgets::stable_modal("confirm-clear-mailboxes").show(ui.ctx(), |ui| {
        ui.heading(state.tr("Clear"));
        ui.label(state.locale.fill(
            "Clear the tokens of {count} mailbox(es)? Their connections stop until someone requests a new token.",
            &[("count", &chosen.len().to_string())],
        ));
        if revocable > 0 {
            ui.checkbox(
                &mut state.mailboxes.revoke_on_clear,
                state.locale.fill(
                    "Also revoke them at the provider (RFC 7009) where it offers that: {revocable} of {count}",
                    &[
                        ("revocable", &revocable.to_string()),
                        ("count", &chosen.len().to_string()),
                    ],
                ),
            );
        }
        ui.horizontal(|ui| {
            if ui.button(state.tr("Yes")).clicked() {
                let targets = chosen.iter().map(|r| r.target.clone()).collect();
                if revocable > 0 && state.mailboxes.revoke_on_clear {
                    // The providers answer first: busy until the report arrives.
                    state.mailboxes.renewing = true;
                    state.mailboxes.outcome = None;
                    state.mailboxes.outcome_for = BTreeSet::new();
                    state.send(Command::RevokeAndClearAll(targets));
                } else {
                    state.send(Command::ClearTokens(targets));
                }
                state.mailboxes.selected.clear();
                state.mailboxes.confirm_clear = false;
            }
            if ui.button(state.tr("Cancel")).clicked() {
                state.mailboxes.confirm_clear = false;
            }
        });
    });
    if modal.should_close() {
        state.mailboxes.confirm_clear = false;
    }
}
