//! The General tab: the app registration, the provider and the API.

use super::*;

/// The lifetime rule as typed: none when the field is empty.
pub(super) fn refresh_rule(days: &str, from: RuleStart) -> Result<Option<RefreshRule>, String> {
    match days.trim() {
        "" => Ok(None),
        text => match text.parse::<u32>() {
            Ok(days) if (1..=3650).contains(&days) => Ok(Some(RefreshRule {
                days,
                counted_from: from,
            })),
            _ => Err(format!(
                "'{text}' is not a number of days from 1 to 3650; leave the field empty when the lifetime is unknown."
            )),
        },
    }
}

/// Every label of the tab's first column, in both provider modes: the column is
/// as wide as the widest of them, so picking the other provider (whose labels
/// differ) leaves the fields where they were.
const LABELS: [&str; 11] = [
    "Data source name",
    "Authority",
    "Cloud",
    "Tenant",
    "Issuer URL",
    "Refresh token lifetime (days)",
    "Counted from",
    "Client ID",
    "Redirect URI",
    "Client secret",
    "Scopes",
];

pub(super) fn general_tab(state: &AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let labels = LABELS.map(|label| state.tr(label));
    egui::Grid::new("general")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .min_col_width(crate::ui::widgets::widest_label(ui, &labels))
        .show(ui, |ui| {
            labelled_edit(ui, state.tr("Data source name"), &mut dialog.source.name);
            ui.end_row();
            ui.label(state.tr("Authority"));
            ui.horizontal(|ui| {
                ui.radio_value(&mut dialog.microsoft, true, state.tr("Microsoft cloud"));
                ui.radio_value(&mut dialog.microsoft, false, state.tr("Custom issuer URL"));
            });
            ui.end_row();
            if dialog.microsoft {
                ui.label(state.tr("Cloud"));
                egui::ComboBox::from_id_salt("cloud")
                    .selected_text(dialog.cloud.label())
                    .show_ui(ui, |ui| {
                        for cloud in Cloud::ALL {
                            ui.selectable_value(&mut dialog.cloud, cloud, cloud.label());
                        }
                    });
                ui.end_row();
                labelled_edit(ui, state.tr("Tenant"), &mut dialog.tenant);
                ui.end_row();
            } else {
                labelled_edit(ui, state.tr("Issuer URL"), &mut dialog.issuer);
                ui.end_row();
                // Used only when the provider's answers do not state a lifetime;
                // empty means "unknown", never a guessed number.
                crate::ui::widgets::hinted_edit(
                    ui,
                    state.tr("Refresh token lifetime (days)"),
                    state.tr("only if the provider does not say; empty = unknown"),
                    &mut dialog.refresh_days,
                );
                ui.end_row();
                ui.label(state.tr("Counted from"));
                ui.horizontal(|ui| {
                    ui.radio_value(
                        &mut dialog.refresh_from,
                        RuleStart::LastUse,
                        state.tr("last use"),
                    );
                    ui.radio_value(
                        &mut dialog.refresh_from,
                        RuleStart::SignIn,
                        state.tr("sign-in"),
                    );
                });
                ui.end_row();
            }
            labelled_edit(ui, state.tr("Client ID"), &mut dialog.client_id);
            ui.end_row();
            crate::ui::widgets::hinted_edit(
                ui,
                state.tr("Redirect URI"),
                state.tr("optional; the browser sign-in's return address"),
                &mut dialog.redirect_uri,
            );
            ui.end_row();
            let label = ui.label(state.tr("Client secret"));
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut dialog.secret)
                        .hint_text(state.tr("optional"))
                        .password(!dialog.show_secret)
                        .desired_width(300.0),
                )
                .labelled_by(label.id);
                let toggle = if dialog.show_secret {
                    state.tr("Hide")
                } else {
                    state.tr("Show")
                };
                if ui.button(toggle).clicked() {
                    dialog.show_secret = !dialog.show_secret;
                }
            });
            ui.end_row();
            ui.label(state.tr("API"));
            ui.horizontal(|ui| {
                ui.radio_value(&mut dialog.api, Api::Ews, "Exchange EWS");
                ui.radio_value(&mut dialog.api, Api::Graph, "Microsoft Graph");
                ui.radio_value(&mut dialog.api, Api::Custom, state.tr("Custom scopes"));
            });
            ui.end_row();
            if dialog.api == Api::Custom {
                labelled_edit(ui, state.tr("Scopes"), &mut dialog.custom_scopes);
                ui.end_row();
            }
        });
    // Inline validation as the admin types: a field nobody has typed in yet is
    // judged only once OK was pressed, so a new data source opens without red.
    let judged = |text: &str| dialog.tried_ok || !text.trim().is_empty();
    if dialog.microsoft {
        if judged(&dialog.tenant) {
            field_error(state.locale, ui, validate_tenant(&dialog.tenant).err());
        }
    } else {
        if judged(&dialog.issuer) {
            let problem = match Url::parse(dialog.issuer.trim()) {
                Ok(url) => check_endpoint_url(&url).err(),
                Err(_) => Some("Enter the issuer URL of the OpenID provider, e.g. https://id.example.org/realms/main.".to_string()),
            };
            field_error(state.locale, ui, problem);
        }
        field_error(
            state.locale,
            ui,
            refresh_rule(&dialog.refresh_days, dialog.refresh_from).err(),
        );
    }
    if judged(&dialog.client_id) {
        field_error(
            state.locale,
            ui,
            validate_client_id(&dialog.client_id, dialog.microsoft).err(),
        );
    }
    if !dialog.redirect_uri.trim().is_empty() {
        field_error(
            state.locale,
            ui,
            crate::desk::sign_in::RedirectUri::parse(&dialog.redirect_uri).err(),
        );
    }
    if dialog.api == Api::Ews {
        ui.colored_label(
            crate::ui::main_window::WARNING,
            state.tr("Exchange Online blocks EWS unless the tenant allows this app (EWSEnabled, EwsAllowedAppIDs) and ends it on 2027-04-01; prefer Microsoft Graph."),
        );
    }
    if dialog.api == Api::Custom {
        field_error(
            state.locale,
            ui,
            validate_scopes(&dialog.custom_scopes, dialog.microsoft).err(),
        );
    }
}
