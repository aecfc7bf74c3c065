//! Settings › Consumers: the applications the gateway serves. Added and removed
//! consumers wait for the dialog's OK, like every other setting, so Cancel undoes
//! them. A new key is shown once; it goes to the clipboard only when the admin
//! presses Copy (never by itself). The list never shows keys.

use super::app::AppState;
use super::main_window::DANGER;
use crate::desk::consumers::{ConsumerChanges, prepare};

/// The part of the Settings dialog about consumers.
#[derive(Default)]
pub struct ConsumersSection {
    pub name: String,
    /// The data source a new consumer may fetch from.
    pub data_source: Option<uuid::Uuid>,
    pub all_users: bool,
    /// Added and removed here, stored with OK.
    pub changes: ConsumerChanges,
    /// The key just made (shown until the dialog closes), or why none.
    pub created: Option<Result<(String, String), String>>,
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui, section: &mut ConsumersSection) {
    let Some(data) = state.shared_data() else {
        return;
    };
    ui.label(state.tr("Consumers (applications that fetch access tokens from tokendesk serve)"));
    let source_name = |id: uuid::Uuid| {
        data.data_sources
            .iter()
            .find(|d| d.id == id)
            .map_or("–", |d| d.name.as_str())
    };
    let users_of = |consumer: &crate::desk::consumers::Consumer| {
        if consumer.relay {
            format!(
                "{} {}",
                state.tr("mail relay device, logs in as"),
                crate::desk::consumers::relay_mailbox(&data, consumer).unwrap_or_default()
            )
        } else if consumer.all_users {
            state.tr("all users").to_string()
        } else {
            consumer.users.join(", ")
        }
    };
    let stored: Vec<_> = data
        .consumers
        .iter()
        .filter(|c| {
            !section
                .changes
                .removed
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&c.name))
        })
        .collect();
    if stored.is_empty() && section.changes.added.is_empty() {
        ui.label(state.tr("No consumers yet."));
    }
    let mut remove_stored = None;
    let mut remove_added = None;
    for consumer in stored {
        ui.horizontal(|ui| {
            let source = source_name(consumer.data_source);
            ui.label(format!(
                "{} · {source} · {}",
                consumer.name,
                users_of(consumer)
            ));
            if ui.small_button(state.tr("Remove")).clicked() {
                remove_stored = Some(consumer.name.clone());
            }
        });
    }
    for (index, consumer) in section.changes.added.iter().enumerate() {
        ui.horizontal(|ui| {
            let source = source_name(consumer.data_source);
            ui.label(format!(
                "{} · {source} · {} ({})",
                consumer.name,
                users_of(consumer),
                state.tr("new")
            ));
            if ui.small_button(state.tr("Remove")).clicked() {
                remove_added = Some(index);
            }
        });
    }
    if let Some(name) = remove_stored {
        section.changes.removed.push(name);
    }
    if let Some(index) = remove_added {
        let gone = section.changes.added.remove(index);
        // Its key was never stored; it must not stay on screen as if it worked.
        if matches!(&section.created, Some(Ok((name, _))) if *name == gone.name) {
            section.created = None;
        }
    }
    ui.horizontal(|ui| {
        let label = ui.label(state.tr("New consumer"));
        ui.add(egui::TextEdit::singleline(&mut section.name).desired_width(160.0))
            .labelled_by(label.id);
        let chosen = section
            .data_source
            .and_then(|id| data.data_sources.iter().find(|d| d.id == id))
            .map_or_else(|| state.tr("Data source").to_string(), |d| d.name.clone());
        egui::ComboBox::from_id_salt("consumer-data-source")
            .selected_text(chosen)
            .show_ui(ui, |ui| {
                for source in &data.data_sources {
                    ui.selectable_value(&mut section.data_source, Some(source.id), &source.name);
                }
            });
        ui.checkbox(&mut section.all_users, state.tr("all users"));
        let source = section
            .data_source
            .and_then(|id| data.data_sources.iter().find(|d| d.id == id))
            .map(|d| d.name.clone());
        let ready = !section.name.trim().is_empty() && source.is_some();
        if ui
            .add_enabled(ready, egui::Button::new(state.tr("Add")))
            .clicked()
            && let Some(source) = source
        {
            let made = prepare(
                &data,
                &section.changes,
                &section.name,
                &source,
                Vec::new(),
                section.all_users,
                state.now(),
            );
            section.created = Some(match made {
                Ok((consumer, key)) => {
                    let name = consumer.name.clone();
                    section.changes.added.push(consumer);
                    section.name.clear();
                    Ok((name, key))
                }
                Err(error) => Err(super::errors::describe(&error, state.locale)),
            });
        }
    });
    if !section.changes.is_empty() {
        ui.label(state.tr(
            "Consumers are added and removed when you press OK; Cancel keeps them as they were.",
        ));
    }
    match &section.created {
        Some(Ok((name, key))) => {
            ui.label(state.locale.fill(
                "The key of '{name}', shown only now (tokendesk keeps a salted hash of it):",
                &[("name", name)],
            ));
            ui.horizontal(|ui| {
                // Read-only: a `&str` buffer can be selected but not edited.
                let mut shown: &str = key;
                ui.add(
                    egui::TextEdit::singleline(&mut shown)
                        .desired_width(420.0)
                        .font(egui::TextStyle::Monospace),
                );
                // Only on the admin's click: a key never reaches the clipboard by itself.
                if ui.button(state.tr("Copy")).clicked() {
                    ui.ctx().copy_text(key.clone());
                }
            });
            ui.label(state.tr(
                "Put it into the application's configuration now; it is not shown again, and it works once you press OK.",
            ));
        }
        Some(Err(problem)) => {
            ui.colored_label(DANGER, problem);
        }
        None => {}
    }
}
