//! Everything slow happens here, never on the UI thread: the vault's disk and
//! keyring work and the identity provider's network calls. The UI sends
//! [`Command`]s; results come back as [`Event`]s, each followed by a repaint request.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SharedClock, SystemClock, TokioSleeper};
use crate::identity::{
    DeviceAuthorization, HttpClient, HttpOptions, IdentityClient, IdentityError, PollEvent,
    ProviderConfig, TokenSet,
};
use crate::keepalive::{RenewOptions, RenewReport, Selection};
use crate::vault::ops::TokenTarget;
use crate::vault::{DataSource, KeySource, Settings, Vault, VaultData, VaultError};

pub enum Command {
    OpenVault {
        keys: KeySource,
    },
    RestoreBackup {
        keys: KeySource,
    },
    /// Adds the data source, or replaces the one with the same id.
    SaveDataSource(Box<DataSource>),
    DeleteDataSource(uuid::Uuid),
    StoreSignIn {
        target: TokenTarget,
        tokens: Box<TokenSet>,
    },
    ClearToken(TokenTarget),
    MarkReminderShown {
        target: TokenTarget,
        day: NaiveDate,
    },
    StartSignIn {
        config: Box<ProviderConfig>,
        /// Where Graph is asked who signed in (the data source's API root).
        graph_root: Option<url::Url>,
    },
    CancelSignIn,
    TestConnection(TokenTarget),
    /// Renew what is due (the keep-alive of the open app).
    RunKeepAlive,
    SaveSettings(Box<Settings>),
    Schedule(ScheduleAction),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    Install,
    Remove,
    Show,
}

pub enum Event {
    VaultOpened(Result<VaultData, String>),
    /// The vault after a successful change.
    VaultChanged(VaultData),
    VaultError(String),
    SignInCode(Box<DeviceAuthorization>),
    SignInWaiting {
        seconds_left: i64,
    },
    SignInFinished(Box<Result<TokenSet, IdentityError>>),
    /// The account the API answered for, or what went wrong.
    TestFinished(Result<String, TestFailure>),
    KeepAliveFinished(Result<RenewReport, String>),
    ScheduleFinished(Result<String, String>),
}

/// The UI's end of the worker.
pub struct Worker {
    commands: Sender<Command>,
    pub events: Receiver<Event>,
    repaint: Arc<OnceLock<egui::Context>>,
}

impl Worker {
    pub fn start(vault_dir: PathBuf, clock: Arc<dyn Clock>) -> Self {
        let (command_tx, command_rx) = channel::<Command>();
        let (event_tx, event_rx) = channel::<Event>();
        let repaint = Arc::new(OnceLock::new());
        let reporter_repaint = repaint.clone();
        std::thread::Builder::new()
            .name("tokendesk-worker".into())
            .spawn(move || {
                let reporter = Reporter {
                    tx: event_tx,
                    repaint: reporter_repaint,
                };
                run(vault_dir, clock, command_rx, reporter)
            })
            .expect("the worker thread starts");
        Worker {
            commands: command_tx,
            events: event_rx,
            repaint,
        }
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

#[derive(Clone)]
struct Reporter {
    tx: Sender<Event>,
    repaint: Arc<OnceLock<egui::Context>>,
}

impl Reporter {
    fn send(&self, event: Event) {
        let _ = self.tx.send(event);
        if let Some(ctx) = self.repaint.get() {
            ctx.request_repaint();
        }
    }
}

fn run(vault_dir: PathBuf, clock: Arc<dyn Clock>, commands: Receiver<Command>, reporter: Reporter) {
    let runtime = match crate::runtime::build() {
        Ok(runtime) => runtime,
        Err(e) => {
            reporter.send(Event::VaultOpened(Err(format!(
                "Could not start the background worker: {e}"
            ))));
            return;
        }
    };
    let vault: Arc<Mutex<Option<Vault>>> = Arc::new(Mutex::new(None));
    let mut sign_in: Option<CancellationToken> = None;
    while let Ok(command) = commands.recv() {
        match command {
            Command::OpenVault { keys } => {
                let result = Vault::open_or_create(&vault_dir, &keys);
                report_open(&vault, result, &reporter);
            }
            Command::RestoreBackup { keys } => {
                // Offered when the vault did not open; the admin's click confirms.
                let result = Vault::restore_backup(&vault_dir, &keys, true, clock.now())
                    .map(|(vault, _)| vault);
                report_open(&vault, result, &reporter);
            }
            Command::SaveDataSource(source) => {
                change(&vault, &reporter, |data| data.upsert_data_source(*source))
            }
            Command::DeleteDataSource(id) => change(&vault, &reporter, |data| {
                data.data_sources.retain(|d| d.id != id);
                Ok(())
            }),
            Command::StoreSignIn { target, tokens } => {
                let now = clock.now();
                with_vault(&vault, &reporter, |vault| {
                    crate::lifecycle::store_sign_in(vault, &target, &tokens, now)
                })
            }
            Command::ClearToken(target) => {
                let now = clock.now();
                with_vault(&vault, &reporter, |vault| {
                    crate::lifecycle::clear(vault, &target, now)
                })
            }
            Command::MarkReminderShown { target, day } => change(&vault, &reporter, |data| {
                data.token_mut(&target)?.reminder_shown_on = Some(day);
                Ok(())
            }),
            Command::StartSignIn { config, graph_root } => {
                if let Some(previous) = sign_in.take() {
                    previous.cancel();
                }
                let cancel = CancellationToken::new();
                sign_in = Some(cancel.clone());
                let reporter = reporter.clone();
                runtime.spawn(async move {
                    // Polling is a conversation with the real world: real time, whatever
                    // clock the app's expiry display runs on.
                    let result =
                        device_flow(*config, graph_root, &SystemClock, &cancel, &reporter).await;
                    // After a cancel the dialog is gone; nothing may arrive for it.
                    if !cancel.is_cancelled() {
                        reporter.send(Event::SignInFinished(Box::new(result)));
                    }
                });
            }
            Command::TestConnection(target) => {
                let result = runtime.block_on(test_connection(&vault, &target, &SystemClock));
                if let Ok(guard) = vault.lock()
                    && let Some(open) = guard.as_ref()
                {
                    reporter.send(Event::VaultChanged(open.data().clone()));
                }
                reporter.send(Event::TestFinished(result));
            }
            Command::RunKeepAlive => {
                let clock = SharedClock(clock.clone());
                let result = runtime.block_on(keep_alive(&vault, clock));
                if let Ok(guard) = vault.lock()
                    && let Some(open) = guard.as_ref()
                {
                    reporter.send(Event::VaultChanged(open.data().clone()));
                }
                reporter.send(Event::KeepAliveFinished(result));
            }
            Command::SaveSettings(settings) => change(&vault, &reporter, |data| {
                data.settings = *settings;
                Ok(())
            }),
            Command::Schedule(action) => {
                reporter.send(Event::ScheduleFinished(schedule(action, &vault_dir)));
            }
            Command::CancelSignIn => {
                if let Some(cancel) = sign_in.take() {
                    cancel.cancel();
                }
            }
        }
    }
}

async fn device_flow(
    config: ProviderConfig,
    graph_root: Option<url::Url>,
    clock: &SystemClock,
    cancel: &CancellationToken,
    reporter: &Reporter,
) -> Result<TokenSet, IdentityError> {
    let http = HttpClient::new(&HttpOptions::default())?;
    let client = IdentityClient::connect(http, config)
        .await?
        .with_graph_root(graph_root.as_ref());
    let authorization = client.start_device_authorization(clock.now()).await?;
    reporter.send(Event::SignInCode(Box::new(authorization.clone())));
    client
        .wait_for_device_approval(&authorization, clock, &TokioSleeper, cancel, |event| {
            if let PollEvent::Waiting { seconds_left, .. } = event {
                reporter.send(Event::SignInWaiting { seconds_left });
            }
        })
        .await
}

/// Redeems and calls the API; the worker handles one command at a time, so nothing
/// else needs the vault while it is lent out.
async fn test_connection(
    slot: &Mutex<Option<Vault>>,
    target: &TokenTarget,
    clock: &SystemClock,
) -> Result<String, TestFailure> {
    let http =
        HttpClient::new(&HttpOptions::default()).map_err(|e| TestFailure::from(e.to_string()))?;
    let mut ews_blocked = false;
    let result = with_borrowed_vault(slot, async |vault| {
        crate::lifecycle::test_target(vault, http, target, clock)
            .await
            .map_err(|e| {
                ews_blocked = matches!(e, crate::lifecycle::RedeemError::EwsBlocked { .. });
                e.to_string()
            })
    })
    .await;
    result.map_err(|message| TestFailure {
        message,
        ews_blocked,
    })
}

/// Why Test Connection failed, and whether switching the data source to Microsoft
/// Graph is the way out (Exchange Online refused EWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub message: String,
    pub ews_blocked: bool,
}

impl From<String> for TestFailure {
    fn from(message: String) -> Self {
        TestFailure {
            message,
            ews_blocked: false,
        }
    }
}

/// Lends the open vault to network work: taken out of its slot for the duration, so
/// no lock is held across an await, and put back whatever the outcome.
async fn with_borrowed_vault<T>(
    slot: &Mutex<Option<Vault>>,
    work: impl AsyncFnOnce(&mut Vault) -> Result<T, String>,
) -> Result<T, String> {
    let mut vault = slot
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or("The vault is not open.")?;
    let result = work(&mut vault).await;
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(vault);
    result
}

/// The `renew --due` of the open app; the same engine and lock as the CLI's, so it
/// never redeems a token a scheduled run is redeeming.
async fn keep_alive(
    slot: &Mutex<Option<Vault>>,
    clock: SharedClock,
) -> Result<RenewReport, String> {
    let http = HttpClient::new(&HttpOptions::default()).map_err(|e| e.to_string())?;
    with_borrowed_vault(slot, async |vault| {
        crate::keepalive::renew(
            vault,
            &Selection::Due,
            &RenewOptions::default(),
            &http,
            &clock,
            &TokioSleeper,
            |_| {},
        )
        .await
        .map_err(|e| e.to_string())
    })
    .await
}

fn schedule(action: ScheduleAction, vault_dir: &std::path::Path) -> Result<String, String> {
    let platform = crate::schedule::Platform::detect().map_err(|e| e.to_string())?;
    match action {
        ScheduleAction::Install => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let job = crate::schedule::Job {
                exe,
                vault_dir: Some(std::path::absolute(vault_dir).unwrap_or(vault_dir.to_path_buf())),
                passphrase_file: None,
            };
            crate::schedule::install(&platform, &job)
        }
        ScheduleAction::Remove => crate::schedule::remove(&platform),
        ScheduleAction::Show => crate::schedule::show(&platform),
    }
    .map_err(|e| e.to_string())
}

fn report_open(
    slot: &Mutex<Option<Vault>>,
    result: Result<Vault, VaultError>,
    reporter: &Reporter,
) {
    match result {
        Ok(vault) => {
            let data = vault.data().clone();
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(vault);
            reporter.send(Event::VaultOpened(Ok(data)));
        }
        Err(error) => reporter.send(Event::VaultOpened(Err(error.to_string()))),
    }
}

fn change(
    slot: &Mutex<Option<Vault>>,
    reporter: &Reporter,
    apply: impl FnOnce(&mut VaultData) -> Result<(), VaultError>,
) {
    with_vault(slot, reporter, |vault| vault.update(apply))
}

/// Runs an operation on the open vault and reports the vault as it is afterwards.
fn with_vault(
    slot: &Mutex<Option<Vault>>,
    reporter: &Reporter,
    operation: impl FnOnce(&mut Vault) -> Result<(), VaultError>,
) {
    let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
    let Some(vault) = guard.as_mut() else {
        reporter.send(Event::VaultError("The vault is not open.".into()));
        return;
    };
    match operation(vault) {
        Ok(()) => reporter.send(Event::VaultChanged(vault.data().clone())),
        Err(error) => reporter.send(Event::VaultError(error.to_string())),
    }
}
