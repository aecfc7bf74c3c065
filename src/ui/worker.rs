//! Everything slow happens here, never on the UI thread. The UI sends [`Command`]s;
//! results come back as [`Event`]s, each followed by a repaint request.
//!
//! Vault writes (save, delete, store a sign-in, clear, settings) run one after
//! another in the command loop, each a few milliseconds. Network work — a sign-in's
//! polling, Test Connection, the keep-alive — runs as tasks of its own on a second
//! handle of the vault, so a Save never waits behind a 60-second timeout and Cancel
//! takes effect at once. Handles never overwrite each other: every write re-reads
//! the vault under its lock and every redemption locks its token.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::desk::model::{Clock, KeySource, SystemClock, Vault, VaultError};
use crate::desk::schedule::VaultAccess;
use crate::desk::sign_in::Method;
use crate::desk::tokens::Selection;
use crate::desk::{self, DeskError};

use super::store_watch::{Follower, LOOK_EVERY};
pub use super::worker_commands::Command;
pub use super::worker_events::Event;
use super::worker_tasks::{BrowserFlow, browser_flow, device_flow, renew_task};

/// Where the worker's vault is and how the scheduled job will open it.
pub struct WorkerOptions {
    pub vault_dir: PathBuf,
    pub passphrase_file: Option<PathBuf>,
    pub clock: Arc<dyn Clock>,
}

/// The UI's end of the worker.
pub struct Worker {
    commands: UnboundedSender<Command>,
    pub events: Receiver<Event>,
    repaint: Arc<OnceLock<egui::Context>>,
}

impl Worker {
    pub fn start(options: WorkerOptions) -> Self {
        let (command_tx, command_rx) = unbounded_channel::<Command>();
        let (event_tx, event_rx) = channel::<Event>();
        let repaint = Arc::new(OnceLock::new());
        let reporter = Reporter {
            tx: event_tx,
            repaint: repaint.clone(),
        };
        std::thread::Builder::new()
            .name("tokendesk-worker".into())
            .spawn(move || match crate::runtime::build() {
                Ok(runtime) => runtime.block_on(serve(options, command_rx, reporter)),
                Err(e) => reporter.send(Event::VaultOpened(Err(VaultError::Invalid(format!(
                    "Could not start the background worker: {e}"
                ))))),
            })
            .expect("the worker thread starts");
        Worker {
            commands: command_tx,
            events: event_rx,
            repaint,
        }
    }

    /// A worker without a thread: the commands the window sends arrive at the
    /// returned end, and events sent there reach the window. For tests that drive
    /// the window as plain state, and for faces that run the work elsewhere.
    pub fn detached() -> (Self, DetachedWorker) {
        let (command_tx, command_rx) = unbounded_channel::<Command>();
        let (event_tx, event_rx) = channel::<Event>();
        (
            Worker {
                commands: command_tx,
                events: event_rx,
                repaint: Arc::new(OnceLock::new()),
            },
            DetachedWorker {
                commands: command_rx,
                events: event_tx,
            },
        )
    }

    /// The context to wake when results arrive; known from the first frame on.
    pub fn attach(&self, ctx: &egui::Context) {
        if self.repaint.get().is_none() {
            let _ = self.repaint.set(ctx.clone());
        }
    }

    pub fn send(&self, command: Command) {
        // The worker only stops with the app, so a failed send means we are exiting.
        let _ = self.commands.send(command);
    }
}

/// The other end of [`Worker::detached`].
pub struct DetachedWorker {
    pub commands: UnboundedReceiver<Command>,
    pub events: Sender<Event>,
}

impl DetachedWorker {
    /// Every command the window sent since the last call.
    pub fn sent(&mut self) -> Vec<Command> {
        let mut sent = Vec::new();
        while let Ok(command) = self.commands.try_recv() {
            sent.push(command);
        }
        sent
    }

    pub fn report(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

#[derive(Clone)]
pub(super) struct Reporter {
    tx: Sender<Event>,
    repaint: Arc<OnceLock<egui::Context>>,
}

impl Reporter {
    pub(super) fn send(&self, event: Event) {
        let _ = self.tx.send(event);
        if let Some(ctx) = self.repaint.get() {
            ctx.request_repaint();
        }
    }
}

async fn serve(
    options: WorkerOptions,
    mut commands: UnboundedReceiver<Command>,
    reporter: Reporter,
) {
    let mut vault: Option<Vault> = None;
    let mut sign_in: Option<CancellationToken> = None;
    let clock = options.clock.clone();
    let mut follower = Follower::default();
    let mut opened_with: Option<KeySource> = None;
    let mut look = tokio::time::interval(LOOK_EVERY);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let command = tokio::select! {
            command = commands.recv() => match command {
                Some(command) => command,
                None => break,
            },
            _ = look.tick() => {
                if let Some(vault) = vault.as_mut() {
                    follower.look(vault, &reporter);
                }
                continue;
            }
        };
        let now = clock.now();
        let opening = matches!(
            command,
            Command::OpenVault { .. } | Command::RestoreBackup { .. }
        );
        match command {
            Command::OpenVault { keys } => {
                opened_with = Some(keys.clone());
                let dir = options.vault_dir.clone();
                let opened = tokio::task::spawn_blocking(move || {
                    desk::vault_file::open_or_create(&dir, &keys).map_err(vault_error)
                })
                .await
                .unwrap_or_else(|e| Err(VaultError::Invalid(e.to_string())));
                report_open(&mut vault, opened, &reporter);
            }
            Command::RestoreBackup { keys } => {
                // Offered when the vault did not open; the admin's click confirms.
                let dir = options.vault_dir.clone();
                let restored = tokio::task::spawn_blocking(move || {
                    desk::vault_file::restore_backup(&dir, &keys, true, now)
                        .map(|(vault, _)| vault)
                        .map_err(vault_error)
                })
                .await
                .unwrap_or_else(|e| Err(VaultError::Invalid(e.to_string())));
                report_open(&mut vault, restored, &reporter);
            }
            Command::SaveDataSource(source) => write(&mut vault, &reporter, |vault| {
                desk::data_sources::save(vault, *source)
            }),
            Command::DeleteDataSource(id) => write(&mut vault, &reporter, |vault| {
                desk::data_sources::remove(vault, id).map(drop)
            }),
            Command::StoreSignIn {
                target,
                tokens,
                acceptance,
            } => write(&mut vault, &reporter, |vault| {
                desk::tokens::store_sign_in(vault, &target, &tokens, acceptance, now)
            }),
            Command::StoreUnsavedSignIn {
                unsaved,
                target,
                tokens,
                acceptance,
            } => write(&mut vault, &reporter, |vault| {
                desk::tokens::store_sign_in_with(vault, *unsaved, &target, &tokens, acceptance, now)
            }),
            Command::ClearToken(target) => write(&mut vault, &reporter, |vault| {
                desk::tokens::clear(vault, &target, now)
            }),
            Command::MarkReminderShown { target, day } => write(&mut vault, &reporter, |vault| {
                desk::tokens::mark_reminder_shown(vault, &target, day)
            }),
            Command::SaveSettings(settings, consumers, notifiers) => {
                write(&mut vault, &reporter, |vault| {
                    desk::settings::save_with_consumers(vault, *settings, consumers, notifiers, now)
                })
            }
            Command::TestNotifier(name) => super::worker_tasks::test_notifier(
                second_handle(&vault, &reporter),
                name,
                &reporter,
            ),
            Command::StartSignIn {
                config,
                graph_root,
                method,
                redirect_uri,
                login_hint,
                page_language,
            } => {
                if let Some(previous) = sign_in.take() {
                    previous.cancel();
                }
                // A full disk is said before the admin signs in, not after.
                if let Some(Err(error)) = vault.as_ref().map(desk::tokens::ready_for_sign_in) {
                    reporter.send(Event::SignInRefused(error));
                    continue;
                }
                let cancel = CancellationToken::new();
                sign_in = Some(cancel.clone());
                let reporter = reporter.clone();
                // The sign-in keeps the provider's discovery in the vault (its own handle).
                let handle = vault.as_ref().map(Vault::another_handle);
                tokio::spawn(async move {
                    // Polling is a conversation with the real world: real time, whatever
                    // clock the app's expiry display runs on.
                    let flow = async {
                        match method {
                            Method::DeviceCode => {
                                device_flow(handle, *config, graph_root, &cancel, &reporter).await
                            }
                            Method::Browser => {
                                let browser = BrowserFlow {
                                    redirect_uri: &redirect_uri,
                                    login_hint: &login_hint,
                                    page_language,
                                };
                                browser_flow(
                                    handle, *config, graph_root, browser, &cancel, &reporter,
                                )
                                .await
                            }
                        }
                    };
                    let result = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        result = flow => result,
                    };
                    // After a cancel the dialog is gone; nothing may arrive for it.
                    if !cancel.is_cancelled() {
                        reporter.send(Event::SignInFinished(Box::new(result)));
                    }
                });
            }
            Command::TestDatabase(url) => super::worker_vault::test(url, &reporter).await,
            Command::MoveVault(to) => {
                let dir = options.vault_dir.clone();
                let keys = opened_with.clone();
                super::worker_vault::move_vault(&mut vault, dir, keys, to, now, &reporter).await;
            }
            Command::CancelSignIn => {
                if let Some(cancel) = sign_in.take() {
                    cancel.cancel();
                }
            }
            Command::RevokeAndClear(target) => {
                let Some(mut handle) = second_handle(&vault, &reporter) else {
                    continue;
                };
                let reporter = reporter.clone();
                tokio::spawn(async move {
                    let result =
                        desk::tokens::revoke_and_clear(&mut handle, &target, &SystemClock).await;
                    reporter.send(Event::VaultChanged(handle.data().clone()));
                    reporter.send(Event::Revoked(result));
                });
            }
            Command::RevokeAndClearAll(targets) => {
                let Some(mut handle) = second_handle(&vault, &reporter) else {
                    continue;
                };
                let reporter = reporter.clone();
                tokio::spawn(async move {
                    let result =
                        desk::tokens::revoke_and_clear_all(&mut handle, &targets, &SystemClock)
                            .await;
                    reporter.send(Event::VaultChanged(handle.data().clone()));
                    reporter.send(Event::RevokedAll(result));
                });
            }
            Command::TestConnection(target) => {
                let Some(mut handle) = second_handle(&vault, &reporter) else {
                    continue;
                };
                let reporter = reporter.clone();
                tokio::spawn(async move {
                    let result =
                        desk::tokens::test_connection(&mut handle, &target, &SystemClock).await;
                    reporter.send(Event::VaultChanged(handle.data().clone()));
                    reporter.send(Event::TestFinished(result));
                });
            }
            Command::RunKeepAlive => {
                renew_task(
                    &vault,
                    &reporter,
                    &clock,
                    Selection::Due,
                    Event::KeepAliveFinished,
                );
            }
            Command::Renew(targets) => {
                let selection = Selection::Only(targets);
                renew_task(&vault, &reporter, &clock, selection, Event::RenewFinished);
            }
            Command::ClearTokens(targets) => write(&mut vault, &reporter, |vault| {
                desk::tokens::clear_all(vault, &targets, now)
            }),
            Command::CheckGateway => {
                let dir = options.vault_dir.clone();
                let reporter = reporter.clone();
                tokio::task::spawn_blocking(move || {
                    reporter.send(Event::GatewayServing(desk::vault_file::gateway_serving(
                        &dir,
                    )));
                });
            }
            Command::PreviewImport(path) => {
                let reporter = reporter.clone();
                tokio::task::spawn_blocking(move || {
                    reporter.send(Event::ImportPreview(desk::users::preview_file(&path)));
                });
            }
            Command::ImportUsers { users, from } => write(&mut vault, &reporter, |vault| {
                desk::users::import(vault, users, &from, now).map(drop)
            }),
            Command::Schedule(action) => {
                let dir = options.vault_dir.clone();
                let passphrase_file = options.passphrase_file.clone();
                let passphrase_protected =
                    vault.as_ref().is_some_and(Vault::is_passphrase_protected);
                let reporter = reporter.clone();
                tokio::task::spawn_blocking(move || {
                    let access = VaultAccess {
                        dir: &dir,
                        passphrase_file: passphrase_file.as_deref(),
                        passphrase_protected,
                    };
                    reporter.send(Event::ScheduleFinished(desk::schedule::run(
                        action, &access,
                    )));
                });
            }
        }
        if opening && let Some(vault) = vault.as_ref() {
            follower.opened(vault, &reporter);
        }
    }
}

/// Opening the vault fails only with the vault's own errors; the failure screen
/// offers its ways out by them.
fn vault_error(error: DeskError) -> VaultError {
    match error {
        DeskError::Vault(error) => error,
        other => VaultError::Invalid(other.to_string()),
    }
}

fn report_open(slot: &mut Option<Vault>, result: Result<Vault, VaultError>, reporter: &Reporter) {
    match result {
        Ok(vault) => {
            let data = vault.data().clone();
            *slot = Some(vault);
            reporter.send(Event::VaultOpened(Ok(data)));
        }
        Err(error) => reporter.send(Event::VaultOpened(Err(error))),
    }
}

/// A handle for network work beside the loop's own.
pub(super) fn second_handle(slot: &Option<Vault>, reporter: &Reporter) -> Option<Vault> {
    match slot {
        Some(vault) => Some(vault.another_handle()),
        None => {
            reporter.send(Event::Failed(not_open()));
            None
        }
    }
}

/// Runs a vault write and reports the vault as it is afterwards.
fn write(
    slot: &mut Option<Vault>,
    reporter: &Reporter,
    operation: impl FnOnce(&mut Vault) -> Result<(), DeskError>,
) {
    let Some(vault) = slot.as_mut() else {
        reporter.send(Event::Failed(not_open()));
        return;
    };
    match operation(vault) {
        Ok(()) => reporter.send(Event::VaultChanged(vault.data().clone())),
        Err(error) => reporter.send(Event::Failed(error)),
    }
}

fn not_open() -> DeskError {
    DeskError::Vault(VaultError::Invalid("The vault is not open.".into()))
}

/// Why Test Connection failed, in the admin's language, and whether switching the
/// data source to Microsoft Graph is the way out (Exchange Online refused EWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub message: String,
    pub ews_blocked: bool,
}
