//! Settings: the reminder and renewal thresholds, the keep-alive, the message
//! consumers see without a token, the language, and the scheduled keep-alive.

use super::app::AppState;
use super::main_window::DANGER;
use super::widgets::labelled_edit;
use super::worker::Command;
use crate::desk::model::Settings;
use crate::desk::schedule::ScheduleAction;

pub struct SettingsDialog {
    reminder_days: String,
    forced_renewal_days: String,
    keepalive_age_days: String,
    keepalive_interval_hours: String,
    keepalive_in_app: bool,
    consumer_status_message: String,
    language: Option<String>,
    base: Settings,
    /// What the scheduler said about the last Install/Remove/Show.
    pub schedule_result: Option<Result<String, String>>,
    pub schedule_busy: bool,
    pub consumers: super::consumers_section::ConsumersSection,
    pub notifiers: super::notifiers_section::NotifiersSection,
    pub vault: super::vault_section::VaultSection,
}

impl SettingsDialog {
    pub fn new(settings: &Settings, locale: crate::ui::i18n::Locale) -> Self {
        // The message consumers see is the vault's; an admin who never changed it
        // is offered it in the window's language, stored once OK is pressed.
        let untouched =
            settings.consumer_status_message == Settings::default().consumer_status_message;
        let consumer_status_message = if untouched {
            locale.tr(Settings::DEFAULT_CONSUMER_MESSAGE).to_string()
        } else {
            settings.consumer_status_message.clone()
        };
        SettingsDialog {
            reminder_days: settings.reminder_days.to_string(),
            forced_renewal_days: settings.forced_renewal_days.to_string(),
            keepalive_age_days: settings.keepalive_age_days.to_string(),
            keepalive_interval_hours: settings.keepalive_interval_hours.to_string(),
            keepalive_in_app: settings.keepalive_in_app,
            consumer_status_message,
            language: settings.language.clone(),
            base: settings.clone(),
            schedule_result: None,
            schedule_busy: false,
            consumers: Default::default(),
            notifiers: Default::default(),
            vault: Default::default(),
        }
    }

    /// The settings as typed, or what is wrong with them.
    pub fn parsed(&self) -> Result<Settings, Vec<String>> {
        let number = |text: &str, what: &str| {
            text.trim()
                .parse::<i64>()
                .map_err(|_| format!("{what}: enter a whole number."))
        };
        let mut problems = Vec::new();
        let mut take = |text: &str, what: &str, fallback: i64| {
            number(text, what).unwrap_or_else(|p| {
                problems.push(p);
                fallback
            })
        };
        let settings = Settings {
            reminder_days: take(
                &self.reminder_days,
                "Reminders from (days before expiry)",
                self.base.reminder_days,
            ),
            forced_renewal_days: take(
                &self.forced_renewal_days,
                "Forced renewal in the last (days)",
                self.base.forced_renewal_days,
            ),
            keepalive_age_days: take(
                &self.keepalive_age_days,
                "Keep-alive renews tokens unused for (days)",
                self.base.keepalive_age_days,
            ),
            keepalive_interval_hours: take(
                &self.keepalive_interval_hours,
                "Keep-alive runs every (hours)",
                self.base.keepalive_interval_hours,
            ),
            keepalive_in_app: self.keepalive_in_app,
            consumer_status_message: self.consumer_status_message.trim().to_string(),
            language: self.language.clone(),
            ..self.base.clone()
        };
        problems.extend(settings.problems());
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui) {
    let Some(mut dialog) = state.settings.take() else {
        return;
    };
    let mut close = false;
    let modal = crate::ui::widgets::stable_modal("settings").show(ui.ctx(), |ui| {
        ui.set_width(620.0);
        ui.heading(state.tr("Settings"));
        ui.add_space(6.0);
        // Taller than a 600-pixel screen with every section: the sections scroll,
        // the heading and OK / Cancel stay in view.
        let room = (ui.ctx().content_rect().height() - 150.0).max(200.0);
        let parsed = egui::ScrollArea::vertical()
            .max_height(room)
            .min_scrolled_height(room)
            .show(ui, |ui| {
            egui::Grid::new("settings-grid")
                .num_columns(2)
                .spacing([12.0, 6.0])
                .show(ui, |ui| {
                    labelled_edit(
                        ui,
                        state.tr("Reminders from (days before expiry)"),
                        &mut dialog.reminder_days,
                         );
                    ui.end_row();
                    labelled_edit(
                        ui,
                        state.tr("Forced renewal in the last (days)"),
                        &mut dialog.forced_renewal_days,
                         );
                    ui.end_row();
                    labelled_edit(
                        ui,
                        state.tr("Keep-alive renews tokens unused for (days)"),
                        &mut dialog.keepalive_age_days,
                         );
                    ui.end_row();
                    ui.label("");
                    ui.checkbox(
                        &mut dialog.keepalive_in_app,
                        state.tr("Renew due tokens while this window is open"),
                    );
                    ui.end_row();
                    labelled_edit(
                        ui,
                        state.tr("Keep-alive runs every (hours)"),
                        &mut dialog.keepalive_interval_hours,
                         );
                    ui.end_row();
                    let label = ui.label(state.tr("Message for consumers without a token"));
                    ui.add(
                        egui::TextEdit::multiline(&mut dialog.consumer_status_message)
                            .desired_rows(2)
                            .desired_width(380.0),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    ui.label(state.tr("Language"));
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut dialog.language, None, state.tr("As the system"));
                        ui.radio_value(&mut dialog.language, Some("en".into()), "English");
                        ui.radio_value(&mut dialog.language, Some("de".into()), "Deutsch");
                    });
                    ui.end_row();
                });
            let parsed = dialog.parsed();
            if let Err(problems) = &parsed {
                for problem in problems {
                    ui.colored_label(DANGER, crate::ui::errors::sentence(problem, state.locale));
                }
            }
            ui.separator();
            ui.label(state.tr("Scheduled keep-alive (runs tokendesk renew --due daily, also while this window is closed)"));
            if let Some(data) = state.shared_data() {
                for (name, hours) in crate::desk::schedule::too_short_for_a_daily_job(&data) {
                    ui.colored_label(
                        DANGER,
                        state.locale.fill(
                            state.tr("The refresh tokens of '{name}' die after {hours} hours without use: a daily job cannot keep them alive. Keep this window open or run tokendesk renew --due more often."),
                            &[("name", &name), ("hours", &hours.to_string())],
                        ),
                    );
                }
            }
            ui.horizontal(|ui| {
                ui.add_enabled_ui(!dialog.schedule_busy, |ui| {
                    for (label, action) in [
                        ("Install schedule", ScheduleAction::Install),
                        ("Remove schedule", ScheduleAction::Remove),
                        ("Show schedule", ScheduleAction::Show),
                    ] {
                        if ui.button(state.tr(label)).clicked() {
                            dialog.schedule_busy = true;
                            dialog.schedule_result = None;
                            state.send(Command::Schedule(action));
                        }
                    }
                });
                if dialog.schedule_busy {
                    ui.spinner();
                }
            });
            match &dialog.schedule_result {
                Some(Ok(text)) => {
                    ui.label(egui::RichText::new(text).monospace());
                }
                Some(Err(text)) => {
                    ui.colored_label(DANGER, text);
                }
                None => {}
            }
            ui.separator();
            super::consumers_section::show(state, ui, &mut dialog.consumers);
            ui.separator();
            super::notifiers_section::show(state, ui, &mut dialog.notifiers);
            ui.separator();
            super::vault_section::show(state, ui, &mut dialog.vault);
                parsed
            })
            .inner;
        ui.separator();
        ui.horizontal(|ui| {
            let ok = ui.add_enabled(parsed.is_ok(), egui::Button::new(state.tr("OK")));
            if ok.clicked()
                && let Ok(settings) = parsed
            {
                state.send(Command::SaveSettings(
                    Box::new(settings),
                    std::mem::take(&mut dialog.consumers.changes),
                    std::mem::take(&mut dialog.notifiers.changes),
                ));
                close = true;
            }
            if ui.button(state.tr("Cancel")).clicked() {
                close = true;
            }
        });
    });
    if modal.should_close() {
        close = true;
    }
    if !close {
        state.settings = Some(dialog);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_field_is_named_as_the_dialog_labels_it() {
        let settings = crate::desk::model::Settings::default();
        let mut dialog = SettingsDialog::new(
            &settings,
            crate::ui::i18n::Locale::new(crate::ui::i18n::Lang::En),
        );
        dialog.reminder_days = "thirty".into();
        dialog.keepalive_interval_hours = "4h".into();
        let problems = dialog.parsed().expect_err("not numbers");
        let german: Vec<_> = problems
            .iter()
            .map(|p| crate::ui::sentences_de::german(p))
            .collect();
        assert_eq!(
            german,
            [
                Some("Erinnerungen ab (Tage vor Ablauf): Geben Sie eine ganze Zahl ein.".into()),
                Some(format!(
                    "{}: Geben Sie eine ganze Zahl ein.",
                    crate::ui::i18n_de::german("Keep-alive runs every (hours)").expect("label")
                )),
            ]
        );
    }
}
