//! Settings › Vault: where this window's tokens are kept — this computer, or a
//! shared vault in PostgreSQL — with a connection test, the move into a
//! database and the move back. The password is never kept: the admin gives it
//! in ~/.pgpass (or PGPASSFILE/PGPASSWORD) as for libpq.

use super::app::AppState;
use super::main_window::DANGER;
use super::worker::Command;
use super::worker_vault::VaultMove;
use crate::desk::DeskError;
use crate::desk::shared_vault::{DatabaseFound, Migrated};

/// What the section last heard from the worker.
pub enum Heard {
    Tested(DatabaseFound),
    Moved(Migrated),
    Joined(Migrated),
    Failed(String),
}

#[derive(Default)]
pub struct VaultSection {
    pub url: String,
    pub busy: bool,
    /// The move was asked for once; the second click confirms it.
    pub confirm: bool,
    /// The shared vault's passphrase, to join it; cleared once sent.
    pub passphrase: String,
    /// The last move asked for was a join.
    pub joining: bool,
    pub heard: Option<Heard>,
}

impl VaultSection {
    pub fn tested(&mut self, result: Result<DatabaseFound, DeskError>, state: &AppState) {
        self.busy = false;
        self.heard = Some(match result {
            Ok(found) => Heard::Tested(found),
            Err(error) => Heard::Failed(super::errors::describe(&error, state.locale)),
        });
    }

    pub fn moved(&mut self, result: Result<Migrated, DeskError>, state: &AppState) {
        self.busy = false;
        self.confirm = false;
        self.heard = Some(match result {
            Ok(moved) if self.joining => Heard::Joined(moved),
            Ok(moved) => Heard::Moved(moved),
            Err(error) => Heard::Failed(super::errors::describe(&error, state.locale)),
        });
    }
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui, section: &mut VaultSection) {
    let locale = state.locale;
    ui.label(egui::RichText::new(state.tr("Vault")).strong());
    super::store_status::name(state, ui);
    let shared = state.store.shared.is_some();
    if shared {
        ui.label(state.tr(
            "Moving back copies the records as the database has them into a vault file on this computer; the database keeps them for the other machines.",
        ));
        ui.add_enabled_ui(!section.busy, |ui| {
            let label = if section.confirm {
                "Move back now"
            } else {
                "Move back to this computer"
            };
            if ui.button(state.tr(label)).clicked() {
                if section.confirm {
                    section.busy = true;
                    section.joining = false;
                    state.send(Command::MoveVault(VaultMove::BackToFile));
                } else {
                    section.confirm = true;
                }
            }
        });
    } else {
        let label = ui.label(state.tr("PostgreSQL connection string"));
        ui.add(
            egui::TextEdit::singleline(&mut section.url)
                .hint_text(
                    "postgresql://tokendesk@db1,db2/tokendesk?target_session_attrs=read-write",
                )
                .desired_width(560.0),
        )
        .labelled_by(label.id);
        ui.label(
            egui::RichText::new(state.tr(
                "No password is kept: put it in ~/.pgpass (host:port:database:user:password) on every machine.",
            ))
            .small(),
        );
        let ready = !section.url.trim().is_empty() && !section.busy;
        ui.horizontal(|ui| {
            if ui
                .add_enabled(ready, egui::Button::new(state.tr("Test connection")))
                .clicked()
            {
                section.busy = true;
                section.heard = None;
                state.send(Command::TestDatabase(section.url.trim().to_string()));
            }
            let label = if section.confirm {
                "Move now: every desk and gateway in this folder uses the database from then on"
            } else {
                "Move this vault into the database"
            };
            if ui
                .add_enabled(ready, egui::Button::new(state.tr(label)))
                .clicked()
            {
                if section.confirm {
                    section.busy = true;
                    section.joining = false;
                    state.send(Command::MoveVault(VaultMove::IntoDatabase(
                        section.url.trim().to_string(),
                    )));
                } else {
                    section.confirm = true;
                }
            }
            if section.busy {
                ui.spinner();
            }
        });
        join(state, ui, section);
    }
    match &section.heard {
        Some(Heard::Tested(found)) => {
            let template = if found.holds_vault {
                "Connected to {location}. It already holds a shared vault: moving this vault in merges it there."
            } else {
                "Connected to {location}. No vault there yet: this vault can move in."
            };
            ui.label(locale.fill(template, &[("location", &found.location)]));
        }
        Some(Heard::Moved(moved)) => {
            ui.label(locale.fill(
                "Moved: {sources} data source(s), {tokens} token(s); the vault is now kept in {location}.",
                &[
                    ("sources", &moved.data_sources.to_string()),
                    ("tokens", &moved.tokens.to_string()),
                    ("location", &moved.location),
                ],
            ));
        }
        Some(Heard::Joined(joined)) => {
            ui.label(locale.fill(
                "Joined: this computer now uses the shared vault in {location} ({sources} data source(s)); its keyring keeps the key.",
                &[
                    ("sources", &joined.data_sources.to_string()),
                    ("location", &joined.location),
                ],
            ));
        }
        Some(Heard::Failed(message)) => {
            ui.colored_label(DANGER, message);
        }
        None => {}
    }
}

/// Joining a shared vault another machine made: its passphrase once, then this
/// machine's keyring keeps the key. An empty vault of this computer steps aside.
fn join(state: &mut AppState, ui: &mut egui::Ui, section: &mut VaultSection) {
    ui.add_space(6.0);
    let label = ui.label(state.tr("Shared vault passphrase (to join one that exists)"));
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut section.passphrase)
                .password(true)
                .desired_width(260.0),
        )
        .labelled_by(label.id);
        let ready =
            !section.url.trim().is_empty() && !section.passphrase.is_empty() && !section.busy;
        if ui
            .add_enabled(ready, egui::Button::new(state.tr("Join the shared vault")))
            .clicked()
        {
            section.busy = true;
            section.joining = true;
            section.heard = None;
            let passphrase =
                crate::desk::model::Secret::new(std::mem::take(&mut section.passphrase));
            state.send(Command::MoveVault(VaultMove::Join {
                url: section.url.trim().to_string(),
                passphrase,
            }));
        }
    });
}
