//! Settings › Notifications: where admins are told about tokens without this
//! window (a webhook, or e-mail from a Microsoft 365 data source's mailbox).
//! Added and removed notifiers wait for the dialog's OK, like the consumers; Test
//! sends through a stored one at once. A webhook's URL is typed masked and never
//! shown again: it is often the credential that lets anyone post.

use super::app::AppState;
use super::main_window::DANGER;
use crate::desk::notify::{
    NewChannel, NotifierChanges, WebhookFormat, describe_channel, prepare_beside,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Webhook,
    Email,
}

/// The part of the Settings dialog about notifications.
#[derive(Default)]
pub struct NotifiersSection {
    pub name: String,
    pub kind: Kind,
    pub url: String,
    pub format: Option<WebhookFormat>,
    pub address: String,
    /// The data source whose mailbox sends the e-mail.
    pub via: Option<uuid::Uuid>,
    /// Added and removed here, stored with OK.
    pub changes: NotifierChanges,
    /// Why the last Add was refused.
    pub problem: Option<String>,
    /// The notifier a test is running for, and the last test's outcome.
    pub testing: Option<String>,
    pub tested: Option<(String, Result<(), String>)>,
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui, section: &mut NotifiersSection) {
    let Some(data) = state.shared_data() else {
        return;
    };
    let locale = state.locale;
    ui.label(state.tr("Notifications (the gateway, or the scheduled keep-alive, tells admins when a token needs a new sign-in, every day while tokens near their end, and when they work again)"));
    let stored: Vec<_> = data
        .notifiers
        .iter()
        .filter(|n| {
            !section
                .changes
                .removed
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&n.name))
        })
        .collect();
    if stored.is_empty() && section.changes.added.is_empty() {
        ui.label(state.tr("No notifiers yet."));
    }
    let mut remove_stored = None;
    let mut test = None;
    for notifier in stored {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!(
                "{} · {}",
                notifier.name,
                describe_channel(&data, notifier)
            ));
            let busy = section.testing.is_some();
            if ui
                .add_enabled(!busy, egui::Button::new(state.tr("Test")).small())
                .clicked()
            {
                test = Some(notifier.name.clone());
            }
            if ui.small_button(state.tr("Remove")).clicked() {
                remove_stored = Some(notifier.name.clone());
            }
        });
        if let Some(failing) = &notifier.failing {
            ui.colored_label(
                DANGER,
                locale.fill(
                    "Delivery fails since {since}: {error}",
                    &[
                        ("since", &locale.date_time(failing.since)),
                        ("error", &failing.error),
                    ],
                ),
            );
        }
    }
    let mut remove_added = None;
    for (index, notifier) in section.changes.added.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} · {} ({})",
                notifier.name,
                describe_channel(&data, notifier),
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
        section.changes.added.remove(index);
    }
    if let Some(name) = test {
        section.testing = Some(name.clone());
        section.tested = None;
        state.send(super::worker::Command::TestNotifier(name));
    }
    if section.testing.is_some() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(state.tr("Sending a test message…"));
        });
    }
    match &section.tested {
        Some((name, Ok(()))) => {
            ui.label(locale.fill(
                "A test message went out through '{name}'.",
                &[("name", name)],
            ));
        }
        Some((name, Err(error))) => {
            ui.colored_label(
                DANGER,
                locale.fill(
                    "The test message through '{name}' was not delivered: {error}",
                    &[("name", name), ("error", error)],
                ),
            );
        }
        None => {}
    }
    add_row(state, ui, section, &data);
    if !section.changes.is_empty() {
        ui.label(state.tr(
            "Notifiers are added and removed when you press OK; Cancel keeps them as they were.",
        ));
    }
    if let Some(problem) = &section.problem {
        ui.colored_label(DANGER, problem);
    }
}

fn add_row(
    state: &mut AppState,
    ui: &mut egui::Ui,
    section: &mut NotifiersSection,
    data: &crate::desk::model::VaultData,
) {
    ui.horizontal_wrapped(|ui| {
        let label = ui.label(state.tr("New notifier"));
        ui.add(egui::TextEdit::singleline(&mut section.name).desired_width(120.0))
            .labelled_by(label.id);
        ui.radio_value(&mut section.kind, Kind::Webhook, state.tr("Webhook"));
        ui.radio_value(&mut section.kind, Kind::Email, state.tr("E-mail"));
    });
    ui.horizontal_wrapped(|ui| {
        let ready = match section.kind {
            Kind::Webhook => {
                let label = ui.label(state.tr("URL"));
                ui.add(
                    egui::TextEdit::singleline(&mut section.url)
                        .password(true)
                        .hint_text("https://…")
                        .desired_width(240.0),
                )
                .labelled_by(label.id);
                let format = section.format.unwrap_or(WebhookFormat::Json);
                egui::ComboBox::from_id_salt("notifier-format")
                    .selected_text(format_label(format))
                    .show_ui(ui, |ui| {
                        for choice in [
                            WebhookFormat::Json,
                            WebhookFormat::Teams,
                            WebhookFormat::Slack,
                        ] {
                            ui.selectable_value(
                                &mut section.format,
                                Some(choice),
                                format_label(choice),
                            );
                        }
                    });
                !section.url.trim().is_empty()
            }
            Kind::Email => {
                let label = ui.label(state.tr("To"));
                ui.add(
                    egui::TextEdit::singleline(&mut section.address)
                        .hint_text("it-admins@contoso.com")
                        .desired_width(180.0),
                )
                .labelled_by(label.id);
                let chosen = section
                    .via
                    .and_then(|id| data.data_sources.iter().find(|d| d.id == id))
                    .map_or_else(
                        || state.tr("From the mailbox of").to_string(),
                        |d| d.name.clone(),
                    );
                egui::ComboBox::from_id_salt("notifier-via")
                    .selected_text(chosen)
                    .show_ui(ui, |ui| {
                        for source in &data.data_sources {
                            ui.selectable_value(&mut section.via, Some(source.id), &source.name);
                        }
                    });
                !section.address.trim().is_empty() && section.via.is_some()
            }
        };
        let ready = ready && !section.name.trim().is_empty();
        if ui
            .add_enabled(ready, egui::Button::new(state.tr("Add notifier")))
            .clicked()
        {
            add(state, section, data);
        }
    });
}

fn add(state: &AppState, section: &mut NotifiersSection, data: &crate::desk::model::VaultData) {
    let channel = match section.kind {
        Kind::Webhook => NewChannel::Webhook {
            url: crate::desk::model::Secret::new(section.url.trim()),
            format: section.format.unwrap_or(WebhookFormat::Json),
        },
        Kind::Email => NewChannel::Email {
            address: section.address.trim().to_string(),
            via: section
                .via
                .and_then(|id| data.data_sources.iter().find(|d| d.id == id))
                .map(|d| d.name.clone())
                .unwrap_or_default(),
        },
    };
    match prepare_beside(data, &section.changes, &section.name, channel, state.now()) {
        Ok(notifier) => {
            section.changes.added.push(notifier);
            section.name.clear();
            section.url.clear();
            section.address.clear();
            section.problem = None;
        }
        Err(error) => section.problem = Some(super::errors::describe(&error, state.locale)),
    }
}

fn format_label(format: WebhookFormat) -> &'static str {
    match format {
        WebhookFormat::Json => "JSON",
        WebhookFormat::Teams => "Teams",
        WebhookFormat::Slack => "Slack",
    }
}
