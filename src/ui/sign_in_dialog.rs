//! The *Request MS365 Refresh Token* dialog: the device flow or the browser sign-in
//! made visible (the waiting steps are in `sign_in_steps`), and what follows them.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use egui::RichText;

use super::app::AppState;
use super::main_window::DANGER;
use super::sign_in_steps::{self, StepAction};
use super::worker::Command;
use crate::desk::account::AccountCheck;
use crate::desk::model::{
    DeviceAuthorization, IdentityError, ProviderConfig, TokenSet, TokenTarget,
};
use crate::desk::sign_in::{
    DEFAULT_TIME_LIMIT, Method, PageLanguage, RedirectUri, blocked_by_policy,
};
use crate::desk::tokens::Acceptance;
use crate::ui::i18n::Lang;

pub enum Step {
    Requesting,
    /// The browser sign-in waits for the browser's answer.
    Browser,
    Code,
    Waiting,
    Failed(IdentityError),
    /// Not started: the vault could not take the result (in the admin's language).
    Refused(String),
    /// The sign-in worked for someone else, or for nobody the provider named.
    Mismatch(Box<TokenSet>, AccountCheck),
}

pub struct SignInDialog {
    pub target: TokenTarget,
    pub expected_account: String,
    /// The token's owner is in the vault, so the result is written there directly.
    pub saved: bool,
    config: ProviderConfig,
    /// The data source's API root, where Graph is asked who signed in.
    graph_root: Option<url::Url>,
    pub step: Step,
    pub method: Method,
    redirect_uri: RedirectUri,
    /// The page the browser sign-in opened (always shown to copy).
    pub browser_url: Option<url::Url>,
    pub browser_not_opened: Option<String>,
    pub authorization: Option<DeviceAuthorization>,
    /// When the browser sign-in stops waiting.
    pub browser_deadline: Option<DateTime<Utc>>,
    pub(super) copy_pending: bool,
    /// Set by the thread that asked the desktop to open the page.
    open_failure: Arc<Mutex<Option<String>>>,
}

impl SignInDialog {
    pub fn new(
        target: TokenTarget,
        expected_account: String,
        saved: bool,
        config: &ProviderConfig,
    ) -> Self {
        SignInDialog {
            target,
            expected_account,
            saved,
            config: config.clone(),
            graph_root: None,
            step: Step::Requesting,
            method: Method::DeviceCode,
            redirect_uri: crate::desk::sign_in::redirect_uri_for(config, None)
                .unwrap_or_else(|_| RedirectUri::loopback_default()),
            browser_url: None,
            browser_not_opened: None,
            authorization: None,
            browser_deadline: None,
            copy_pending: false,
            open_failure: Arc::new(Mutex::new(None)),
        }
    }

    pub fn with_graph_root(mut self, root: Option<url::Url>) -> Self {
        self.graph_root = root;
        self
    }

    /// The data source's own redirect URI (checked when it was saved).
    pub fn with_redirect_uri(mut self, configured: Option<&str>) -> Self {
        if let Ok(uri) = crate::desk::sign_in::redirect_uri_for(&self.config, configured) {
            self.redirect_uri = uri;
        }
        self
    }

    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The worker command that starts (or restarts) this sign-in.
    pub fn start_command(&self, lang: Lang) -> Command {
        Command::StartSignIn {
            config: Box::new(self.config.clone()),
            graph_root: self.graph_root.clone(),
            method: self.method,
            redirect_uri: Box::new(self.redirect_uri.clone()),
            login_hint: self.expected_account.clone(),
            page_language: match lang {
                Lang::En => PageLanguage::English,
                Lang::De => PageLanguage::German,
            },
        }
    }

    /// Starts over with the other way of signing in.
    fn switch_to(&mut self, method: Method) {
        self.method = method;
        self.step = Step::Requesting;
        self.authorization = None;
        self.browser_url = None;
        self.browser_not_opened = None;
    }

    pub fn browser_waiting(&mut self, url: url::Url, now: DateTime<Utc>) {
        self.browser_deadline = chrono::Duration::from_std(DEFAULT_TIME_LIMIT)
            .ok()
            .map(|limit| now + limit);
        self.browser_url = Some(url);
        self.step = Step::Browser;
    }

    pub fn code_arrived(&mut self, authorization: DeviceAuthorization) {
        self.authorization = Some(authorization);
        self.step = Step::Code;
        self.copy_pending = true;
    }

    pub fn failed(&mut self, error: IdentityError) {
        self.step = Step::Failed(error);
    }

    pub fn mismatch(&mut self, tokens: TokenSet, check: AccountCheck) {
        self.step = Step::Mismatch(Box::new(tokens), check);
    }

    pub(super) fn client_id(&self) -> &str {
        &self.config.client_id
    }

    /// Why the desktop could not open the page, once it said so.
    pub(super) fn open_failure(&self) -> Option<String> {
        self.open_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn open_page(&self, ctx: &egui::Context) {
        let Some(authorization) = &self.authorization else {
            return;
        };
        let page = authorization.page_to_open().clone();
        let failure = self.open_failure.clone();
        let ctx = ctx.clone();
        // `open` waits for the launcher; never on the UI thread.
        std::thread::spawn(move || {
            let result = crate::desktop::open_in_browser(&page);
            *failure.lock().unwrap_or_else(|e| e.into_inner()) = result.err();
            ctx.request_repaint();
        });
    }
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui) {
    let Some(mut dialog) = state.sign_in.take() else {
        return;
    };
    let mut keep = true;
    let mut store_anyway: Option<TokenSet> = None;
    let mut retry = false;
    let mut switch: Option<Method> = None;
    let mut step_action = StepAction::Stay;
    let modal = super::widgets::nested_modal(ui.ctx(), "request-refresh-token", |ui| {
        ui.set_width(560.0);
        let microsoft = dialog.config.authority.is_microsoft();
        ui.heading(state.tr(crate::ui::edit_dialog::request_label(microsoft)));
        if let Some((at, of)) = state.sign_in_queue.position() {
            ui.label(state.locale.fill(
                "Sign-in {at} of {of}: {account}",
                &[
                    ("at", &at.to_string()),
                    ("of", &of.to_string()),
                    ("account", &dialog.expected_account),
                ],
            ));
        }
        let (provider_label, provider) = if microsoft {
            ("Tenant", dialog.config.authority.display_name())
        } else {
            ("Provider", dialog.config.authority.issuer_display())
        };
        ui.label(format!(
            "{}: {} · {}: {}",
            state.tr(provider_label),
            provider,
            state.tr("Client ID being approved"),
            dialog.config.client_id
        ));
        ui.separator();
        match &dialog.step {
            Step::Requesting => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(state.tr(match dialog.method {
                        Method::DeviceCode => "Requesting a code…",
                        Method::Browser => "Opening the sign-in page in the browser…",
                    }));
                });
                // A slow provider must not hold the admin here.
                if ui.button(state.tr("Cancel")).clicked() {
                    keep = false;
                }
            }
            Step::Browser => {
                step_action = sign_in_steps::browser(&dialog, state, ui);
            }
            Step::Code => {
                step_action = sign_in_steps::code(&mut dialog, state, ui, microsoft);
            }
            Step::Waiting => {
                step_action = sign_in_steps::waiting(&mut dialog, state, ui);
            }
            Step::Refused(message) => {
                ui.heading(state.tr("Sign-in not started"));
                ui.colored_label(DANGER, message.as_str());
                ui.label(state.tr(
                    "Nothing was asked of the provider. Make room on the disk (or make the vault folder writable), then retry.",
                ));
                ui.horizontal(|ui| {
                    if ui.button(state.tr("Retry")).clicked() {
                        retry = true;
                    }
                    if ui.button(state.tr("Close")).clicked() {
                        keep = false;
                    }
                });
            }
            Step::Failed(error) => {
                ui.heading(state.tr("Sign-in failed"));
                ui.colored_label(
                    DANGER,
                    super::errors::describe_identity(error, state.locale),
                );
                let details = error.support_details();
                if !details.is_empty() {
                    ui.collapsing(state.tr("Details for support"), |ui| {
                        ui.monospace(details);
                    });
                }
                let policy_block = dialog.method == Method::DeviceCode && blocked_by_policy(error);
                if policy_block {
                    ui.label(state.tr(
                        "A policy blocks sign-ins with a code. The browser sign-in is not affected by it.",
                    ));
                }
                ui.horizontal(|ui| {
                    if policy_block
                        && ui
                            .button(RichText::new(state.tr("Sign in with the browser")).strong())
                            .clicked()
                    {
                        switch = Some(Method::Browser);
                    }
                    if ui.button(state.tr("Retry")).clicked() {
                        retry = true;
                    }
                    if ui.button(state.tr("Close")).clicked() {
                        keep = false;
                    }
                });
            }
            Step::Mismatch(tokens, check) => {
                match check {
                    AccountCheck::Other { who } => {
                        ui.heading(state.tr("Signed in, but as another account"));
                        ui.colored_label(
                            DANGER,
                            state.locale.fill(
                                state.tr("{who} signed in, but this token is for {expected}. Nothing was stored."),
                                &[("who", who), ("expected", &dialog.expected_account)],
                            ),
                        );
                    }
                    // The provider named nobody: that is not "another account".
                    AccountCheck::Unnamed { .. } | AccountCheck::Matches => {
                        let reason = match check {
                            AccountCheck::Unnamed { reason, .. } => reason.as_str(),
                            _ => "",
                        };
                        ui.heading(state.tr("The provider did not name the account"));
                        ui.colored_label(
                            DANGER,
                            state.locale.fill(
                                state.tr("The sign-in worked, but the provider did not say who signed in ({reason}), so tokendesk cannot check that it is {expected}. Nothing was stored. Store anyway if {expected} signed in."),
                                &[("reason", reason), ("expected", &dialog.expected_account)],
                            ),
                        );
                    }
                }
                ui.horizontal(|ui| {
                    if ui.button(state.tr("Store anyway")).clicked() {
                        store_anyway = Some((**tokens).clone());
                    }
                    if ui.button(state.tr("Retry")).clicked() {
                        retry = true;
                    }
                    if ui.button(state.tr("Cancel")).clicked() {
                        keep = false;
                    }
                });
            }
        }
    });
    match step_action {
        StepAction::Stay => {}
        StepAction::Close => keep = false,
        StepAction::Switch(method) => switch = Some(method),
    }
    if modal.should_close() {
        keep = false;
    }
    if let Some(method) = switch {
        dialog.switch_to(method);
        state.send(dialog.start_command(state.locale.lang));
    } else if retry {
        dialog.switch_to(dialog.method);
        state.send(dialog.start_command(state.locale.lang));
    }
    if let Some(tokens) = store_anyway {
        state.store_tokens(dialog, tokens, Acceptance::AnyAccount);
        return;
    }
    if keep {
        state.sign_in = Some(dialog);
    } else {
        // Closing one sign-in of a series ends the series.
        state.sign_in_queue.waiting.clear();
        state.sign_in_queue.total = 0;
        state.send(Command::CancelSignIn);
    }
}
