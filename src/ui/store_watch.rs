//! The window follows the store: once a second the worker looks at the vault's
//! stamp (the file's metadata, or the shared vault's generation in one small
//! query) and reads the vault again when another process or machine changed it.
//! When a shared vault's database stops answering, the window is told, shows it
//! and stays read-only until the database answers again.

use std::time::Duration;

use crate::desk::model::Vault;
use crate::desk::watch::{self, Announcer, Presence, Stamp};

use super::worker::{Event, Reporter};

/// How often the window's worker looks at the store.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Where the vault is and whether it answers, for the status strip and the
/// read-only state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreView {
    /// The shared vault's database (hosts and name, no password); `None`: a file
    /// on this computer.
    pub shared: Option<String>,
    /// Why the shared vault's database cannot be reached now.
    pub unreachable: Option<String>,
    /// The other desks and gateways seen in the last minute.
    pub others: Vec<Presence>,
}

/// The worker's memory of the store between looks.
pub struct Follower {
    last: Option<Stamp>,
    reported: Option<StoreView>,
    announcer: Announcer,
    others: Vec<Presence>,
}

impl Default for Follower {
    fn default() -> Self {
        Follower {
            last: None,
            reported: None,
            announcer: Announcer::new("desk"),
            others: Vec::new(),
        }
    }
}

impl Follower {
    /// After the vault was opened (or after the loop's own write): this is the
    /// version the window shows.
    pub(super) fn opened(&mut self, vault: &Vault, reporter: &Reporter) {
        self.last = Some(watch::look(vault));
        self.announcer.announce(vault);
        if let Some(others) = self.announcer.others(vault) {
            self.others = others;
        }
        self.report(vault, reporter);
    }

    /// One look: reads the vault again when its stamp moved.
    pub(super) fn look(&mut self, vault: &mut Vault, reporter: &Reporter) {
        let now = watch::look(vault);
        if now.unreachable().is_none() {
            self.announcer.announce(vault);
            if let Some(others) = self.announcer.others(vault) {
                self.others = others;
            }
        }
        if self.last.as_ref() == Some(&now) {
            self.report(vault, reporter);
            return;
        }
        let was_unreachable = self.last.as_ref().and_then(Stamp::unreachable).is_some();
        self.last = Some(now.clone());
        if now.unreachable().is_none() || was_unreachable {
            match vault.reload() {
                Ok(_) => reporter.send(Event::VaultChanged(vault.data().clone())),
                Err(error) if now.unreachable().is_none() => {
                    reporter.send(Event::Failed(error.into()));
                }
                Err(_) => {}
            }
        }
        self.report(vault, reporter);
    }

    fn report(&mut self, vault: &Vault, reporter: &Reporter) {
        let view = StoreView {
            shared: vault.shared_location(),
            unreachable: self
                .last
                .as_ref()
                .and_then(Stamp::unreachable)
                .map(str::to_string),
            others: self.others.clone(),
        };
        if self.reported.as_ref() != Some(&view) {
            self.reported = Some(view.clone());
            reporter.send(Event::Store(view));
        }
    }
}
