//! The waiting steps of a sign-in: the device code (shown until the sign-in ends,
//! with the account to use and the code's own countdown) and the browser sign-in
//! (with its time limit and what to do when the provider refuses the way back).

use egui::{Color32, RichText};

use super::app::AppState;
use super::main_window::DANGER;
use super::sign_in_dialog::{SignInDialog, Step};
use crate::desk::sign_in::Method;

/// What a step asks of the dialog around it.
pub(super) enum StepAction {
    Stay,
    Close,
    Switch(Method),
}

pub(super) fn countdown(seconds: i64) -> String {
    let seconds = seconds.max(0);
    format!("{:02}:{:02}", seconds / 60, seconds % 60)
}

/// Counting down needs a frame each second, also when nothing else moves.
fn tick(ui: &egui::Ui) {
    ui.ctx()
        .request_repaint_after(std::time::Duration::from_secs(1));
}

fn account_line(state: &AppState, ui: &mut egui::Ui, account: &str) {
    ui.label(RichText::new(format!("{}: {account}", state.tr("Sign in with"))).strong());
}

pub(super) fn code(
    dialog: &mut SignInDialog,
    state: &AppState,
    ui: &mut egui::Ui,
    microsoft: bool,
) -> StepAction {
    let Some(authorization) = dialog.authorization.clone() else {
        return StepAction::Stay;
    };
    let mut action = StepAction::Stay;
    if dialog.copy_pending {
        // Only the user code ever goes to the clipboard.
        ui.ctx().copy_text(authorization.user_code.clone());
        dialog.copy_pending = false;
    }
    account_line(state, ui, &dialog.expected_account);
    ui.label(state.tr(if microsoft {
        "Enter this code on the Microsoft login page:"
    } else {
        "Enter this code on the provider's sign-in page:"
    }));
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(&authorization.user_code)
                .monospace()
                .size(34.0)
                .strong(),
        );
        ui.label(RichText::new(state.tr("Copied")).color(Color32::from_rgb(0x2e, 0x7d, 0x32)));
        if ui.button(state.tr("Copy")).clicked() {
            ui.ctx().copy_text(authorization.user_code.clone());
        }
    });
    expires_in(state, ui, authorization.seconds_left(state.now()));
    ui.hyperlink(authorization.verification_uri.as_str());
    if ui
        .button(state.tr(if microsoft {
            "Open Microsoft login page"
        } else {
            "Open the sign-in page"
        }))
        .clicked()
    {
        dialog.open_page(ui.ctx());
    }
    if let Some(failure) = dialog.open_failure() {
        ui.colored_label(DANGER, failure);
        let mut url = authorization.verification_uri.to_string();
        ui.add(egui::TextEdit::singleline(&mut url).interactive(true));
    }
    ui.colored_label(
        DANGER,
        state.tr("Never enter a code that you received from someone else."),
    );
    ui.horizontal(|ui| {
        if ui.button(state.tr("Next")).clicked() {
            dialog.step = Step::Waiting;
        }
        if ui.button(state.tr("Sign in with the browser")).clicked() {
            action = StepAction::Switch(Method::Browser);
        }
        if ui.button(state.tr("Cancel")).clicked() {
            action = StepAction::Close;
        }
    });
    action
}

fn expires_in(state: &AppState, ui: &mut egui::Ui, seconds: i64) {
    tick(ui);
    ui.label(format!(
        "{} {}",
        state.tr("Code expires in"),
        countdown(seconds)
    ));
}

pub(super) fn waiting(
    dialog: &mut SignInDialog,
    state: &AppState,
    ui: &mut egui::Ui,
) -> StepAction {
    let mut action = StepAction::Stay;
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label(state.tr("Waiting for the sign-in…"));
    });
    account_line(state, ui, &dialog.expected_account);
    if let Some(authorization) = &dialog.authorization {
        ui.horizontal(|ui| {
            ui.label(state.tr("Code"));
            ui.label(RichText::new(&authorization.user_code).monospace().strong());
        });
        expires_in(state, ui, authorization.seconds_left(state.now()));
    }
    ui.horizontal(|ui| {
        // The code stays reachable: the admin may not have typed it yet.
        if ui.button(state.tr("Back to the code")).clicked() {
            dialog.step = Step::Code;
        }
        if ui.button(state.tr("Cancel")).clicked() {
            action = StepAction::Close;
        }
    });
    action
}

pub(super) fn browser(dialog: &SignInDialog, state: &AppState, ui: &mut egui::Ui) -> StepAction {
    let mut action = StepAction::Stay;
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label(
            state.tr("Sign in in the browser window that opened. tokendesk waits for its answer."),
        );
    });
    account_line(state, ui, &dialog.expected_account);
    if let Some(deadline) = dialog.browser_deadline {
        tick(ui);
        ui.label(format!(
            "{} {}",
            state.tr("Time left to sign in:"),
            countdown((deadline - state.now()).num_seconds())
        ));
    }
    if let Some(failure) = &dialog.browser_not_opened {
        ui.colored_label(DANGER, failure.as_str());
    }
    if let Some(url) = &dialog.browser_url {
        ui.label(state.tr("If no browser opened, open this page yourself:"));
        copyable(ui, url.to_string());
        if let Some(redirect) = redirect_sent(url) {
            ui.add_space(6.0);
            ui.label(RichText::new(state.tr("Does the page show an error?")).strong());
            ui.label(state.locale.fill(
                "Then the provider does not accept the address it was asked to send the browser back to. Register this redirect URI for client {client} at the provider (a loopback address may use any port), or enter the one registered there as this data source's Redirect URI and sign in again:",
                &[("client", dialog.client_id())],
            ));
            copyable(ui, redirect);
        }
    }
    ui.horizontal(|ui| {
        if ui.button(state.tr("Use a code instead")).clicked() {
            action = StepAction::Switch(Method::DeviceCode);
        }
        if ui.button(state.tr("Cancel")).clicked() {
            action = StepAction::Close;
        }
    });
    action
}

fn copyable(ui: &mut egui::Ui, mut text: String) {
    ui.add(
        egui::TextEdit::singleline(&mut text)
            .desired_width(520.0)
            .interactive(true),
    );
}

/// The redirect URI this sign-in asked for, as the provider saw it.
fn redirect_sent(url: &url::Url) -> Option<String> {
    url.query_pairs()
        .find(|(name, _)| name == "redirect_uri")
        .map(|(_, value)| value.into_owned())
}
