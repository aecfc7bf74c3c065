//! The Exchange account tab: the data-source user's mailbox, its token and Test Connection.

use super::*;

/// What the Request button looks like for a token: Intrexx grays it while a valid
/// token has more than 30 days; inside the last 10 days, expired or rejected it is
/// highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestButton {
    Disabled,
    Enabled,
    Highlighted,
}

pub fn request_button(state: TokenState) -> RequestButton {
    match state {
        TokenState::Healthy | TokenState::AtRisk => RequestButton::Disabled,
        TokenState::ReminderDue => RequestButton::Enabled,
        TokenState::RenewalForced
        | TokenState::Expired
        | TokenState::NeedsSignIn
        | TokenState::Missing => RequestButton::Highlighted,
    }
}

pub(super) fn token_details(
    state: &AppState,
    ui: &mut egui::Ui,
    record: &TokenRecord,
    settings: &crate::desk::model::Settings,
    lifetime: policy::Lifetime,
    show_last_error: bool,
) -> TokenState {
    let status = policy::evaluate(record, settings, lifetime, state.now());
    // A long provider message wraps inside the dialog instead of widening it.
    egui::Grid::new(ui.next_auto_id())
        .num_columns(2)
        .spacing([12.0, 4.0])
        .max_col_width(520.0)
        .show(ui, |ui| {
            ui.label(state.tr("State"));
            let (words, colour) = crate::ui::widgets::state_text(
                status.state,
                policy::caveat(status.state, status.expires_at, record.last_error.as_ref()),
            );
            let text = state.tr(words);
            match colour {
                Some(color) => ui.colored_label(color, RichText::new(text).strong()),
                None => ui.label(text),
            };
            ui.end_row();
            if let Some(identity) = &record.identity {
                ui.label(state.tr("Signed in as"));
                ui.label(identity.account().unwrap_or("–"));
                ui.end_row();
            }
            let date = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map(|at| state.locale.date_time(at))
                    .unwrap_or_else(|| "–".into())
            };
            ui.label(state.tr("Obtained"));
            ui.label(date(record.obtained_at));
            ui.end_row();
            ui.label(state.tr("Last renewed"));
            ui.label(date(record.last_redeemed_at));
            ui.end_row();
            ui.label(state.tr("Expires on"));
            if record.refresh_token.is_some() {
                // Said in words where the date comes from; "unknown" is never a guess.
                ui.label(match status.expires_at {
                    Some(at) => format!(
                        "{} ({})",
                        state.locale.date_time(at),
                        state.tr(status.basis.label())
                    ),
                    None => state.tr(status.basis.label()).to_string(),
                });
            } else {
                ui.label("–");
            }
            ui.end_row();
            ui.label(state.tr("Days left"));
            ui.label(crate::ui::widgets::days_left_text(
                status.days_left,
                status.hours_left,
            ));
            ui.end_row();
            // A failed Test Connection says it below, newer and in the admin's
            // language: the same failure is not shown twice.
            if let Some(error) = record.last_error.as_ref().filter(|_| show_last_error) {
                ui.label(state.tr("Last error"));
                let text = format!("{} {}", error.message, error.code.as_deref().unwrap_or(""));
                ui.add(egui::Label::new(RichText::new(text).color(DANGER)).wrap());
                ui.end_row();
            }
        });
    status.state
}

pub(super) fn request_button_ui(
    state: &AppState,
    ui: &mut egui::Ui,
    token_state: TokenState,
    microsoft: bool,
) -> bool {
    let label = state.tr(request_label(microsoft));
    match request_button(token_state) {
        RequestButton::Disabled => {
            ui.add_enabled(false, egui::Button::new(label));
            false
        }
        RequestButton::Enabled => ui.button(label).clicked(),
        RequestButton::Highlighted => ui
            .add(
                egui::Button::new(RichText::new(label).strong().color(egui::Color32::WHITE))
                    .fill(DANGER),
            )
            .clicked(),
    }
}

pub(super) fn start_sign_in(
    state: &mut AppState,
    dialog: &mut EditDialog,
    login: Option<&str>,
    expected: String,
    saved: bool,
) {
    match dialog.provider() {
        Ok(config) => {
            let sign_in = SignInDialog::new(dialog.target(login), expected, saved, &config)
                .with_graph_root(Url::parse(dialog.api_root.trim()).ok())
                .with_redirect_uri(Some(dialog.redirect_uri.as_str()))
                .with_method(state.sign_in_method);
            state.send(sign_in.start_command(state.locale.lang));
            state.sign_in = Some(sign_in);
        }
        Err(problem) => {
            dialog.tab = Tab::General;
            dialog.error = Some(problem);
        }
    }
}

pub(super) fn exchange_tab(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    egui::Grid::new("account")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            labelled_edit(ui, state.tr("E-mail / user name"), &mut dialog.email);
            ui.end_row();
            if dialog.microsoft {
                microsoft_server(state, ui, dialog);
            } else {
                // Another provider has no Exchange server to choose: Test Connection
                // asks its userinfo endpoint who the token belongs to.
                ui.label(state.tr("Server"));
                ui.label(state.tr(
                    "The provider's userinfo endpoint (Test Connection asks it who signed in)",
                ));
                ui.end_row();
            }
            labelled_edit(
                ui,
                state.tr("Mail server for notifications (optional)"),
                &mut dialog.mail_server,
            );
            ui.end_row();
            labelled_edit(
                ui,
                state.tr("IMAP server for the mail relay (optional)"),
                &mut dialog.imap_server,
            );
            ui.end_row();
        });
    field_error(state.locale, ui, validate_email(&dialog.email).err());
    for server in [&dialog.mail_server, &dialog.imap_server] {
        if !server.trim().is_empty() {
            field_error(
                state.locale,
                ui,
                crate::desk::notify::check_upstream(server).err(),
            );
        }
    }
    if dialog.microsoft
        && !dialog.api_root.trim().is_empty()
        && dialog.effective_server() != ServerKind::Ews
    {
        let problem = match Url::parse(dialog.api_root.trim()) {
            Ok(url) => check_endpoint_url(&url).err(),
            Err(_) => {
                Some("Enter the API root as a URL, e.g. https://graph.microsoft.com/.".to_string())
            }
        };
        field_error(state.locale, ui, problem);
    }
    ui.separator();
    let Some(data) = state.shared_data() else {
        return;
    };
    let lifetime = policy::Lifetime::of(&dialog.source);
    let test_failed = matches!(dialog.test_result, Some(Err(_)));
    let token_state = token_details(
        state,
        ui,
        &dialog.source.token,
        &data.settings,
        lifetime,
        !test_failed,
    );
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        if request_button_ui(state, ui, token_state, dialog.microsoft) {
            match validate_email(&dialog.email) {
                Ok(()) => {
                    let expected = dialog.email.trim().to_string();
                    let saved = dialog.saved;
                    start_sign_in(state, dialog, None, expected, saved);
                }
                Err(problem) => dialog.error = Some(problem),
            }
        }
        let can_test = dialog.saved && dialog.source.token.has_refresh_token() && !dialog.testing;
        if ui
            .add_enabled(can_test, egui::Button::new(state.tr("Test Connection")))
            .clicked()
        {
            dialog.test_result = None;
            if token_state.is_urgent() {
                // Inside the last 10 days, as in ASSURE, testing forces the renewal.
                let expected = dialog.email.trim().to_string();
                start_sign_in(state, dialog, None, expected, true);
            } else {
                dialog.testing = true;
                state.send(Command::TestConnection(dialog.target(None)));
            }
        }
        let can_clear = dialog.saved && dialog.source.token.has_refresh_token();
        if ui
            .add_enabled(can_clear, egui::Button::new(state.tr("Clear Token")))
            .clicked()
        {
            dialog.confirm_clear = Some(dialog.target(None));
        }
    });
    test_result_ui(state, ui, dialog);
}

/// The outcome of the last Test Connection, under the buttons that started it.
pub(super) fn test_result_ui(state: &AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    if dialog.testing {
        ui.spinner();
    }
    match &dialog.test_result {
        Some(Ok(account)) => {
            ui.colored_label(
                egui::Color32::from_rgb(0x2e, 0x7d, 0x32),
                format!("{}: {account}", state.tr("Connection works")),
            );
        }
        Some(Err(problem)) => {
            ui.add(egui::Label::new(RichText::new(&problem.message).color(DANGER)).wrap());
            if problem.ews_blocked
                && ui
                    .button(state.tr("Switch this data source to Microsoft Graph"))
                    .clicked()
            {
                dialog.switch_to_graph();
            }
        }
        None => {}
    }
    match &dialog.revocation {
        Some(Ok(true)) => {
            ui.colored_label(
                egui::Color32::from_rgb(0x2e, 0x7d, 0x32),
                state.tr("The provider revoked the token, and it was cleared here."),
            );
        }
        Some(Ok(false)) => {
            ui.label(
                state.tr("The provider offers no revocation; the token was cleared here only."),
            );
        }
        Some(Err(problem)) => {
            ui.add(
                egui::Label::new(
                    RichText::new(state.locale.fill(
                        "Not revoked, and nothing was cleared: {problem}",
                        &[("problem", problem)],
                    ))
                    .color(DANGER),
                )
                .wrap(),
            );
        }
        None => {}
    }
    if dialog.switched_to_graph {
        ui.label(state.tr("Switched to Microsoft Graph: save with OK, then Test Connection again. If Microsoft answers that consent is missing, request a new refresh token."));
    }
}

/// Intrexx's wording for Microsoft; neutral words for any other provider.
pub fn request_label(microsoft: bool) -> &'static str {
    if microsoft {
        "Request MS365 Refresh Token"
    } else {
        "Request Refresh Token"
    }
}

/// The server rows for Microsoft: the General tab's API decides it for EWS and
/// Graph; only where it leaves a choice is one offered here.
fn microsoft_server(state: &AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    ui.label(state.tr("Server"));
    match dialog.api {
        Api::Graph => {
            ui.label(state.tr("Microsoft Graph (the API chosen on the General tab)"));
        }
        Api::Ews => {
            ui.horizontal(|ui| {
                ui.radio_value(&mut dialog.server, ServerKind::Office365, "Office365");
                ui.radio_value(&mut dialog.server, ServerKind::Ews, state.tr("EWS URL"));
            });
        }
        Api::Custom => {
            ui.horizontal(|ui| {
                ui.radio_value(&mut dialog.server, ServerKind::Office365, "Office365");
                ui.radio_value(&mut dialog.server, ServerKind::Ews, state.tr("EWS URL"));
                ui.radio_value(&mut dialog.server, ServerKind::Graph, "Microsoft Graph");
            });
        }
    }
    ui.end_row();
    if dialog.effective_server() == ServerKind::Ews {
        labelled_edit(ui, state.tr("EWS URL"), &mut dialog.ews_url);
        ui.end_row();
    } else {
        labelled_edit(ui, state.tr("API root (optional)"), &mut dialog.api_root);
        ui.end_row();
    }
}
