//! The status strip at the bottom of the main window: the tokens' health in one
//! line, where the vault is, whether a gateway serves it, and the keep-alive.

use super::app::AppState;
use super::main_window::{Attention, DANGER, WARNING};
use crate::desk::model::VaultData;
use crate::desk::model::policy::Caveat;

pub fn show(state: &mut AppState, ui: &mut egui::Ui, data: &VaultData, items: &[Attention]) {
    let locale = state.locale;
    // Wrapped, not clipped: at the default size and in German the strip is longer
    // than one line. Each item moves to the next line whole ("next run" stays with
    // its date).
    ui.horizontal_wrapped(|ui| {
        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
        super::store_status::name(state, ui);
        ui.separator();
        ui.label(format!(
            "{}: {}",
            state.tr("Data sources"),
            data.data_sources.len()
        ));
        ui.separator();
        let without = data
            .each_token()
            .filter(|owner| !owner.record().has_refresh_token())
            .count();
        if without > 0 {
            ui.label(format!("{without} {}", state.tr("without a token")));
        }
        if items.is_empty() {
            if data.data_sources.is_empty() {
                ui.label(state.tr("No data sources yet."));
            } else if without == 0 {
                // "Healthy" only where nothing qualifies it (the same rule as the rows).
                let caveat = state
                    .derived
                    .health
                    .values()
                    .map(|h| h.caveat)
                    .max()
                    .unwrap_or_default();
                match caveat {
                    Caveat::RenewalFailing => {
                        ui.colored_label(
                            WARNING,
                            state.tr("Tokens work, but a renewal fails for now."),
                        );
                    }
                    Caveat::ExpiryUnknown => {
                        ui.colored_label(
                            WARNING,
                            state.tr("Tokens work, but when some of them end is unknown."),
                        );
                    }
                    Caveat::None => {
                        ui.label(state.tr("All tokens are healthy."));
                    }
                }
            }
        } else {
            if without > 0 {
                ui.separator();
            }
            let urgent = items.iter().filter(|i| i.state.is_urgent()).count();
            let text = locale.fill(
                "{count} token(s) need attention, {urgent} urgent",
                &[
                    ("count", &items.len().to_string()),
                    ("urgent", &urgent.to_string()),
                ],
            );
            ui.colored_label(if urgent > 0 { DANGER } else { WARNING }, text);
        }
        ui.separator();
        if state.gateway == Some(true) {
            ui.label(state.tr("A gateway (tokendesk serve) serves this vault."));
            ui.separator();
        }
        keepalive_status(state, ui);
        // A channel to the admins that fails is named here: nobody else would see it.
        for notifier in data.notifiers.iter().filter(|n| n.failing.is_some()) {
            ui.separator();
            ui.colored_label(
                DANGER,
                locale.fill(
                    "Notifications through '{name}' fail",
                    &[("name", &notifier.name)],
                ),
            )
            .on_hover_text(notifier.failing.as_ref().map_or("", |f| f.error.as_str()));
        }
        if let Some((notice, _)) = &state.notice {
            ui.separator();
            ui.colored_label(DANGER, notice);
        }
    });
}

/// The last keep-alive run and the next one, with a button to run it now.
fn keepalive_status(state: &mut AppState, ui: &mut egui::Ui) {
    let locale = state.locale;
    if state.keepalive.running {
        ui.spinner();
        ui.label(state.tr("Keep-alive is renewing tokens…"));
        return;
    }
    match &state.keepalive.last {
        Some((at, Ok(counts))) => {
            let summary = super::widgets::run_summary(locale, counts);
            ui.label(locale.fill(
                "Keep-alive {when}: {summary}",
                &[("when", &locale.date_time(*at)), ("summary", &summary)],
            ));
        }
        Some((at, Err(error))) => {
            ui.colored_label(
                DANGER,
                locale.fill(
                    "Keep-alive {when} failed: {error}",
                    &[("when", &locale.date_time(*at)), ("error", error)],
                ),
            );
        }
        None => {}
    }
    if let Some(next) = state.keepalive.next_at {
        let template = match state.keepalive.last {
            Some(_) => "next run {when}",
            None => "Keep-alive: next run {when}",
        };
        ui.label(locale.fill(template, &[("when", &locale.date_time(next))]));
    }
    let renew = egui::Button::new(state.tr("Renew due tokens now")).small();
    // Nothing can be stored while a shared vault's database does not answer, and
    // with nothing due there is nothing to renew (the tooltip says so).
    let due = state.derived.due > 0;
    let response = ui.add_enabled(!state.read_only() && due, renew);
    let response = if due {
        response
    } else {
        response.on_disabled_hover_text(state.tr("No token is due for renewal."))
    };
    if response.clicked() {
        state.run_keepalive_now();
    }
}
