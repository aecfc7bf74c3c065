//! The window's state and the frame loop. Views draw from this state and turn
//! clicks into [`Command`]s for the worker; nothing here touches disk or network.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::edit_dialog::EditDialog;
use super::i18n::Locale;
use super::mailboxes::{MailboxesView, SignInQueue};
use super::settings_dialog::SettingsDialog;
use super::sign_in_dialog::SignInDialog;
use super::worker::{Command, Event, TestFailure, Worker, WorkerOptions};
use crate::desk::DeskError;
use crate::desk::account::{AccountCheck, check_account};
use crate::desk::model::{Clock, KeySource, RenewCounts, Secret, VaultData};
use crate::desk::sign_in::Method;
use crate::desk::tokens::Acceptance;

/// How the window starts: where the vault is and how it is unlocked.
pub struct Options {
    pub vault_dir: PathBuf,
    /// The passphrase file the program was started with; the scheduled job gets it.
    pub passphrase_file: Option<PathBuf>,
    pub keys: KeySource,
    pub locale: Locale,
    pub clock: Arc<dyn Clock>,
    /// How Request Refresh Token signs in first (the other way is one click away).
    pub sign_in_method: Method,
}

pub enum VaultView {
    Opening,
    Failed {
        message: String,
        passphrase: String,
    },
    /// Shared, so that a frame can hold the data while it changes the state.
    Ready(Arc<VaultData>),
}

pub struct AppState {
    pub locale: Locale,
    pub clock: Arc<dyn Clock>,
    pub(crate) worker: Worker,
    pub(crate) keys: KeySource,
    pub vault: VaultView,
    pub selected: Option<Uuid>,
    pub editor: Option<EditDialog>,
    pub confirm_delete: Option<Uuid>,
    pub sign_in: Option<SignInDialog>,
    /// The last error worth a message strip, with when it came.
    pub notice: Option<(String, DateTime<Utc>)>,
    pub settings: Option<SettingsDialog>,
    pub keepalive: KeepAlive,
    /// Which page the main window shows.
    pub page: Page,
    pub mailboxes: MailboxesView,
    /// Sign-ins asked for from All mailboxes, started one after another.
    pub sign_in_queue: SignInQueue,
    /// Import users (CSV), opened from the Additional users tab.
    pub import: Option<super::import_dialog::ImportDialog>,
    /// How a sign-in starts: the browser on a local desktop, else a code.
    pub sign_in_method: Method,
    /// Token states derived once per vault generation and minute.
    pub(crate) derived: super::main_window::Derived,
    /// Whether a gateway serves this vault, and when that was last asked.
    pub gateway: Option<bool>,
    gateway_asked: Option<DateTime<Utc>>,
    /// Where the vault is, and whether its database answers (read-only when not).
    pub store: super::store_watch::StoreView,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Page {
    #[default]
    DataSources,
    Mailboxes,
}

/// The background keep-alive of the open app: `renew --due` every few hours.
#[derive(Debug, Default)]
pub struct KeepAlive {
    pub running: bool,
    pub next_at: Option<DateTime<Utc>>,
    /// When the last run finished, and its counts or what went wrong (drawn in the
    /// language of the moment, not of the run).
    pub last: Option<(DateTime<Utc>, Result<RenewCounts, String>)>,
}

/// The first keep-alive waits this long after the vault opens, so starting the app
/// to do something else is not slowed by a burst of renewals.
pub const FIRST_KEEPALIVE_AFTER: chrono::Duration = chrono::Duration::minutes(1);

impl AppState {
    pub fn new(options: Options) -> Self {
        let worker = Worker::start(WorkerOptions {
            vault_dir: options.vault_dir,
            passphrase_file: options.passphrase_file,
            clock: options.clock.clone(),
        });
        worker.send(Command::OpenVault {
            keys: options.keys.clone(),
        });
        let mut state = Self::with_worker(options.locale, options.clock, options.keys, worker);
        state.sign_in_method = options.sign_in_method;
        state
    }

    /// The window as plain state: no thread, no vault. The returned end receives
    /// every command and feeds events (a vault to show, a sign-in's result).
    pub fn detached(
        locale: Locale,
        clock: Arc<dyn Clock>,
    ) -> (Self, super::worker::DetachedWorker) {
        let (worker, end) = Worker::detached();
        let state = Self::with_worker(locale, clock, KeySource::native(), worker);
        (state, end)
    }

    fn with_worker(locale: Locale, clock: Arc<dyn Clock>, keys: KeySource, worker: Worker) -> Self {
        AppState {
            locale,
            clock,
            worker,
            keys,
            vault: VaultView::Opening,
            selected: None,
            editor: None,
            confirm_delete: None,
            sign_in: None,
            notice: None,
            settings: None,
            keepalive: KeepAlive::default(),
            page: Page::DataSources,
            mailboxes: MailboxesView::default(),
            sign_in_queue: SignInQueue::default(),
            import: None,
            sign_in_method: Method::Browser,
            derived: Default::default(),
            gateway: None,
            gateway_asked: None,
            store: Default::default(),
        }
    }

    /// While the shared vault's database does not answer, nothing can be stored:
    /// the window shows what it last read and offers no change.
    pub fn read_only(&self) -> bool {
        self.store.unreachable.is_some()
    }

    pub fn tr(&self, english: &'static str) -> &'static str {
        self.locale.tr(english)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn data(&self) -> Option<&VaultData> {
        match &self.vault {
            VaultView::Ready(data) => Some(data.as_ref()),
            _ => None,
        }
    }

    /// The data for a frame, without copying it.
    pub fn shared_data(&self) -> Option<Arc<VaultData>> {
        match &self.vault {
            VaultView::Ready(data) => Some(data.clone()),
            _ => None,
        }
    }

    pub(crate) fn send(&self, command: Command) {
        self.worker.send(command);
    }

    /// Applies what the worker reported since the last frame.
    pub fn drain_events(&mut self) {
        while let Ok(event) = self.worker.events.try_recv() {
            match event {
                // A task's handle may report after a newer write of the loop's own.
                Event::VaultChanged(data)
                    if self
                        .data()
                        .is_some_and(|shown| shown.generation > data.generation) => {}
                Event::VaultOpened(Ok(data)) | Event::VaultChanged(data) => {
                    if let Some(editor) = self.editor.as_mut() {
                        editor.refresh_tokens(&data);
                    }
                    if self.keepalive.next_at.is_none() {
                        self.keepalive.next_at = Some(self.now() + FIRST_KEEPALIVE_AFTER);
                    }
                    if let Some(language) = &data.settings.language {
                        self.locale = Locale::preferred(language);
                    }
                    self.vault = VaultView::Ready(Arc::new(data));
                }
                Event::VaultOpened(Err(error)) => {
                    self.vault = VaultView::Failed {
                        message: super::errors::describe(&DeskError::Vault(error), self.locale),
                        passphrase: String::new(),
                    };
                }
                Event::Failed(error) => {
                    self.notice = Some((super::errors::describe(&error, self.locale), self.now()))
                }
                Event::SignInCode(authorization) => {
                    if let Some(dialog) = self.sign_in.as_mut() {
                        dialog.code_arrived(*authorization);
                    }
                }
                Event::BrowserWaiting(url) => {
                    if let Some(dialog) = self.sign_in.as_mut() {
                        dialog.browser_waiting(url, self.clock.now());
                    }
                }
                Event::BrowserNotOpened(failure) => {
                    if let Some(dialog) = self.sign_in.as_mut() {
                        dialog.browser_not_opened = Some(failure);
                    }
                }
                Event::SignInFinished(result) => self.sign_in_finished(*result),
                Event::SignInRefused(error) => {
                    let message = super::errors::describe(&error, self.locale);
                    if let Some(dialog) = self.sign_in.as_mut() {
                        dialog.step = super::sign_in_dialog::Step::Refused(message);
                    }
                }
                Event::KeepAliveFinished(result) => {
                    let now = self.now();
                    let interval = self
                        .data()
                        .map_or(4, |d| d.settings.keepalive_interval_hours.max(1));
                    self.keepalive.running = false;
                    self.keepalive.next_at = Some(now + chrono::Duration::hours(interval));
                    let locale = self.locale;
                    let summary = result
                        .map(|report| report.counts())
                        .map_err(|e| super::errors::describe(&e, locale));
                    self.keepalive.last = Some((now, summary));
                }
                Event::DatabaseTested(result) => {
                    if let Some(mut dialog) = self.settings.take() {
                        dialog.vault.tested(result, self);
                        self.settings = Some(dialog);
                    }
                }
                Event::VaultMoved(result) => {
                    if let Some(mut dialog) = self.settings.take() {
                        dialog.vault.moved(result, self);
                        self.settings = Some(dialog);
                    }
                }
                Event::GatewayServing(serving) => self.gateway = Some(serving),
                Event::Store(view) => self.store = view,
                Event::ImportPreview(result) => {
                    let locale = self.locale;
                    if let Some(dialog) = self.import.as_mut() {
                        dialog.busy = false;
                        dialog.preview =
                            Some(result.map_err(|e| super::errors::describe(&e, locale)));
                    }
                }
                Event::RenewFinished(result) => {
                    let locale = self.locale;
                    let result = result.map_err(|e| super::errors::describe(&e, locale));
                    super::mailboxes::renew_finished(self, result);
                }
                Event::NotifierTested(name, result) => {
                    let locale = self.locale;
                    if let Some(dialog) = self.settings.as_mut() {
                        dialog.notifiers.testing = None;
                        dialog.notifiers.tested = Some((
                            name,
                            result.map_err(|e| super::errors::describe(&e, locale)),
                        ));
                    }
                }
                Event::ScheduleFinished(result) => {
                    let locale = self.locale;
                    if let Some(dialog) = self.settings.as_mut() {
                        dialog.schedule_busy = false;
                        dialog.schedule_result =
                            Some(result.map_err(|e| super::errors::describe(&e, locale)));
                    }
                }
                Event::Revoked(result) => {
                    let locale = self.locale;
                    if let Some(editor) = self.editor.as_mut() {
                        editor.revocation =
                            Some(result.map_err(|e| super::errors::describe(&e, locale)));
                    }
                }
                Event::RevokedAll(result) => super::mailboxes::revoke_finished(self, result),
                Event::TestFinished(result) => {
                    let locale = self.locale;
                    if let Some(editor) = self.editor.as_mut() {
                        editor.testing = false;
                        editor.test_result = Some(result.map_err(|e| TestFailure {
                            message: super::errors::describe(&e, locale),
                            ews_blocked: e.ews_blocked(),
                        }));
                    }
                }
            }
        }
    }

    fn sign_in_finished(
        &mut self,
        result: Result<crate::desk::model::TokenSet, crate::desk::model::IdentityError>,
    ) {
        let Some(dialog) = self.sign_in.as_mut() else {
            return;
        };
        match result {
            Ok(tokens) => match check_account(&tokens, &dialog.expected_account) {
                AccountCheck::Matches => {
                    let dialog = self.sign_in.take().expect("dialog present");
                    self.store_tokens(dialog, tokens, Acceptance::ConfiguredAccount);
                }
                check => dialog.mismatch(tokens, check),
            },
            Err(error) => dialog.failed(error),
        }
    }

    /// A finished sign-in goes to the vault at once, whatever the admin clicks
    /// next: for a data source or an additional user not saved yet, together with
    /// it. Only when the draft cannot be saved (a field is wrong) does it wait in
    /// the dialog, which then says so and asks before Cancel discards it.
    pub(crate) fn store_tokens(
        &mut self,
        dialog: SignInDialog,
        tokens: crate::desk::model::TokenSet,
        acceptance: Acceptance,
    ) {
        let editor = match self.editor.as_mut() {
            Some(editor) if !dialog.saved => editor,
            _ => {
                return self.send(Command::StoreSignIn {
                    target: dialog.target,
                    tokens: Box::new(tokens),
                    acceptance,
                });
            }
        };
        match editor.unsaved_for(&dialog.target) {
            Ok(unsaved) => {
                editor.take_sign_in(&dialog.target, &tokens);
                editor.stored_early = true;
                self.send(Command::StoreUnsavedSignIn {
                    unsaved: Box::new(unsaved),
                    target: dialog.target,
                    tokens: Box::new(tokens),
                    acceptance,
                });
            }
            Err(problem) => {
                editor.take_sign_in(&dialog.target, &tokens);
                editor.unsaved_sign_in = true;
                editor.error = Some(problem);
            }
        }
    }

    pub(crate) fn retry_open(&mut self, passphrase: Option<String>) {
        let keys = match passphrase.filter(|p| !p.is_empty()) {
            Some(passphrase) => self.keys.clone().with_passphrase(Secret::new(passphrase)),
            None => self.keys.clone(),
        };
        self.keys = keys.clone();
        self.vault = VaultView::Opening;
        self.send(Command::OpenVault { keys });
    }

    pub(crate) fn restore_backup(&mut self) {
        self.vault = VaultView::Opening;
        self.send(Command::RestoreBackup {
            keys: self.keys.clone(),
        });
    }

    /// Starts the keep-alive when it is time, and wakes the window for the next one.
    fn tick_keepalive(&mut self, ctx: &egui::Context) {
        if self.keepalive.running
            || self.read_only()
            || !self.data().is_some_and(|d| d.settings.keepalive_in_app)
        {
            return;
        }
        let Some(next_at) = self.keepalive.next_at else {
            return;
        };
        let now = self.now();
        if now >= next_at {
            self.run_keepalive_now();
        } else if let Ok(wait) = (next_at - now).to_std() {
            ctx.request_repaint_after(wait);
        }
    }

    /// Asks the worker once a minute whether a gateway serves this vault.
    fn ask_about_gateway(&mut self, ctx: &egui::Context) {
        if self.data().is_none() {
            return;
        }
        let now = self.now();
        let due = self
            .gateway_asked
            .is_none_or(|at| now - at >= chrono::Duration::minutes(1));
        if due {
            self.gateway_asked = Some(now);
            self.send(Command::CheckGateway);
        }
        ctx.request_repaint_after(std::time::Duration::from_secs(60));
    }

    pub(crate) fn run_keepalive_now(&mut self) {
        self.keepalive.running = true;
        self.send(Command::RunKeepAlive);
    }

    pub(crate) fn open_settings(&mut self) {
        if let Some(data) = self.data() {
            self.settings = Some(SettingsDialog::new(&data.settings, self.locale));
        }
    }

    /// One frame: the whole window.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.worker.attach(ui.ctx());
        self.drain_events();
        self.tick_keepalive(ui.ctx());
        self.ask_about_gateway(ui.ctx());
        super::main_window::show(self, ui);
        super::edit_dialog::show(self, ui);
        super::import_dialog::show(self, ui);
        super::sign_in_dialog::show(self, ui);
        if !self.sign_in_queue.waiting.is_empty() {
            super::mailboxes::start_next_sign_in(self);
        }
        super::settings_dialog::show(self, ui);
        // Countdowns need a tick even when nothing else happens.
        if self.sign_in.is_some() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(500));
        }
    }
}

/// The eframe application around [`AppState`].
pub struct TokendeskApp {
    pub state: AppState,
    /// `TOKENDESK_REPORT_FIRST_FRAME` set: say on stderr when the first frame is
    /// drawn, and the first with the vault's records, for the benchmarks.
    pub report_first_frame: bool,
    pub report_full_frame: bool,
}

impl eframe::App for TokendeskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.state.ui(ui);
        if std::mem::take(&mut self.report_first_frame) {
            eprintln!("tokendesk: first frame drawn");
        }
        if self.report_full_frame && self.state.data().is_some() {
            self.report_full_frame = false;
            eprintln!("tokendesk: first full frame drawn");
        }
    }
}
