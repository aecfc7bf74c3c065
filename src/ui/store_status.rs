//! Where the vault is, drawn for the admin: "this computer" or the shared
//! vault's database, and — while that database does not answer — a banner that
//! says the window is read-only until it does.

use super::app::AppState;
use super::main_window::DANGER;

/// The store's name and who else used it in the last minute, in the status strip.
pub fn name(state: &AppState, ui: &mut egui::Ui) {
    let locale = state.locale;
    let text = match &state.store.shared {
        None => state.tr("Vault: this computer").to_string(),
        Some(location) => locale.fill(
            "Vault: shared (PostgreSQL {location})",
            &[("location", location)],
        ),
    };
    ui.label(text)
        .on_hover_text(state.tr("Where the tokens of this window are kept."));
    if !state.store.others.is_empty() {
        let others: Vec<String> = state
            .store
            .others
            .iter()
            .map(|other| {
                let face = match other.face.as_str() {
                    "gateway" => state.tr("gateway"),
                    "desk" => state.tr("desk"),
                    _ => state.tr("command"),
                };
                locale.fill(
                    "{face} on {machine}",
                    &[("face", face), ("machine", &other.machine)],
                )
            })
            .collect();
        ui.separator();
        ui.label(locale.fill(
            "Also here in the last minute: {others}",
            &[("others", &others.join(", "))],
        ));
    }
}

/// The banner while the shared vault's database does not answer.
pub fn unreachable(state: &AppState, ui: &mut egui::Ui) {
    let Some(why) = &state.store.unreachable else {
        return;
    };
    let locale = state.locale;
    let location = state.store.shared.clone().unwrap_or_default();
    ui.add_space(4.0);
    ui.colored_label(
        DANGER,
        egui::RichText::new(locale.fill(
            "The shared vault ({location}) does not answer. This window shows what it last read and is read-only until the database answers again; gateways keep serving the access tokens they hold.",
            &[("location", &location)],
        ))
        .strong(),
    );
    ui.label(egui::RichText::new(why).small());
    ui.add_space(4.0);
}
