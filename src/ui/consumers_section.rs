//! Settings › Consumers: the applications the gateway serves. A new key is shown
//! once, in a field the admin can select; tokendesk never puts it on the
//! clipboard (secrets never go there; only a sign-in's user code does). The list
//! never shows keys.

use super::app::AppState;
use super::main_window::DANGER;
use super::worker::Command;

/// The part of the Settings dialog about consumers.
#[derive(Default)]
pub struct ConsumersSection {
    pub name: String,
    /// The data source a new consumer may fetch from.
    pub data_source: Option<uuid::Uuid>,
    pub all_users: bool,
    pub busy: bool,
    /// The key just created (shown until the dialog closes), or why none.
    pub created: Option<Result<(String, String), String>>,
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui, section: &mut ConsumersSection) {
    let Some(data) = state.shared_data() else {
        return;
    };
    ui.label(state.tr("Consumers (applications that fetch access tokens from tokendesk serve)"));
    if data.consumers.is_empty() {
        ui.label(state.tr("No consumers yet."));
    }
    for consumer in &data.consumers {
        let source = data
            .data_sources
            .iter()
            .find(|d| d.id == consumer.data_source)
            .map_or("–", |d| d.name.as_str());
        ui.horizontal(|ui| {
            let users = if consumer.all_users {
                state.tr("all users").to_string()
            } else {
                consumer.users.join(", ")
            };
            ui.label(format!("{} · {source} · {users}", consumer.name));
            if ui.small_button(state.tr("Remove")).clicked() {
                state.send(Command::RemoveConsumer(consumer.name.clone()));
            }
        });
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
        let source_name = section
            .data_source
            .and_then(|id| data.data_sources.iter().find(|d| d.id == id))
            .map(|d| d.name.clone());
        let ready = !section.name.trim().is_empty() && source_name.is_some() && !section.busy;
        if ui
            .add_enabled(ready, egui::Button::new(state.tr("Add")))
            .clicked()
            && let Some(data_source) = source_name
        {
            section.busy = true;
            section.created = None;
            state.send(Command::AddConsumer {
                name: section.name.trim().to_string(),
                data_source,
                all_users: section.all_users,
            });
        }
        if section.busy {
            ui.spinner();
        }
    });
    match &section.created {
        Some(Ok((name, key))) => {
            ui.label(state.locale.fill(
                "The key of '{name}', shown only now (tokendesk keeps a salted hash of it):",
                &[("name", name)],
            ));
            // Read-only: a `&str` buffer can be selected but not edited.
            let mut shown: &str = key;
            ui.add(
                egui::TextEdit::singleline(&mut shown)
                    .desired_width(420.0)
                    .font(egui::TextStyle::Monospace),
            );
            ui.label(state.tr(
                "Select it and put it into the application's configuration now; it is not shown again.",
            ));
        }
        Some(Err(problem)) => {
            ui.colored_label(DANGER, problem);
        }
        None => {}
    }
}
