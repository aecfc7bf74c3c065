//! The window's state and the frame loop. Views draw from this state and turn
//! clicks into [`Command`]s for the worker; nothing here touches disk or network.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::edit_dialog::EditDialog;
use super::i18n::Locale;
use super::sign_in_dialog::SignInDialog;
use super::worker::{Command, Event, Worker};
use crate::clock::Clock;
use crate::secret::Secret;
use crate::vault::{KeySource, VaultData};

/// How the window starts: where the vault is and how it is unlocked.
pub struct Options {
    pub vault_dir: PathBuf,
    pub keys: KeySource,
    pub locale: Locale,
    pub clock: Arc<dyn Clock>,
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
}

impl AppState {
    pub fn new(options: Options) -> Self {
        let worker = Worker::start(options.vault_dir, options.clock.clone());
        worker.send(Command::OpenVault {
            keys: options.keys.clone(),
        });
        AppState {
            locale: options.locale,
            clock: options.clock,
            worker,
            keys: options.keys,
            vault: VaultView::Opening,
            selected: None,
            editor: None,
            confirm_delete: None,
            sign_in: None,
            notice: None,
        }
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
                Event::VaultOpened(Ok(data)) | Event::VaultChanged(data) => {
                    if let Some(editor) = self.editor.as_mut() {
                        editor.refresh_tokens(&data);
                    }
                    self.vault = VaultView::Ready(Arc::new(data));
                }
                Event::VaultOpened(Err(message)) => {
                    self.vault = VaultView::Failed {
                        message,
                        passphrase: String::new(),
                    };
                }
                Event::VaultError(message) => self.notice = Some((message, self.now())),
                Event::SignInCode(authorization) => {
                    if let Some(dialog) = self.sign_in.as_mut() {
                        dialog.code_arrived(*authorization, self.locale);
                    }
                }
                Event::SignInWaiting { seconds_left } => {
                    if let Some(dialog) = self.sign_in.as_mut() {
                        dialog.seconds_left = Some(seconds_left);
                    }
                }
                Event::SignInFinished(result) => self.sign_in_finished(*result),
                Event::TestFinished(result) => {
                    if let Some(editor) = self.editor.as_mut() {
                        editor.testing = false;
                        editor.test_result = Some(result);
                    }
                }
            }
        }
    }

    fn sign_in_finished(
        &mut self,
        result: Result<crate::identity::TokenSet, crate::identity::IdentityError>,
    ) {
        let Some(dialog) = self.sign_in.as_mut() else {
            return;
        };
        match result {
            Ok(tokens) => {
                let matches = tokens
                    .identity
                    .as_ref()
                    .is_some_and(|identity| identity.matches(&dialog.expected_account));
                if matches {
                    let dialog = self.sign_in.take().expect("dialog present");
                    self.store_tokens(dialog, tokens);
                } else {
                    dialog.mismatch(tokens);
                }
            }
            Err(error) => dialog.failed(error),
        }
    }

    /// A sign-in for a saved data source goes to the vault at once; for a new one it
    /// waits in the draft until OK.
    pub(crate) fn store_tokens(&mut self, dialog: SignInDialog, tokens: crate::identity::TokenSet) {
        match (&mut self.editor, dialog.saved) {
            (Some(editor), false) => editor.take_sign_in(&dialog.target, &tokens),
            _ => self.send(Command::StoreSignIn {
                target: dialog.target,
                tokens: Box::new(tokens),
            }),
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

    /// One frame: the whole window.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.worker.attach(ui.ctx());
        self.drain_events();
        super::main_window::show(self, ui);
        super::edit_dialog::show(self, ui);
        super::sign_in_dialog::show(self, ui);
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
}

impl eframe::App for TokendeskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.state.ui(ui);
    }
}
