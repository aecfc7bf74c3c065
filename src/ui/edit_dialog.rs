//! The *Edit data source* dialog with its General, Exchange account and Additional
//! users tabs. Settings are a draft until OK; tokens are not settings and are
//! written as soon as they are obtained or cleared.

use egui::RichText;
use egui_extras::{Column, TableBuilder};
use url::Url;
use uuid::Uuid;

use super::app::AppState;
use super::main_window::{DANGER, state_color};
use super::sign_in_dialog::SignInDialog;
use super::widgets::labelled_edit;
use super::worker::{Command, TestFailure};
use crate::identity::config::{
    check_endpoint_url, validate_client_id, validate_scopes, validate_tenant,
};
use crate::identity::{Authority, Cloud, ProviderConfig, Scopes, TokenSet};
use crate::secret::Secret;
use crate::vault::ops::{TokenTarget, validate_email};
use crate::vault::policy::{self, TokenState};
use crate::vault::{
    AppUser, DataSource, ExchangeServer, RefreshRule, RuleStart, TokenRecord, UserMapping,
    VaultData,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    General,
    ExchangeAccount,
    AdditionalUsers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Ews,
    Graph,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKind {
    Office365,
    Ews,
    Graph,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    AppUser,
    ExchangeUser,
    State,
    DaysLeft,
}

pub struct MappingEditor {
    /// `None` for a new mapping.
    pub editing: Option<Uuid>,
    pub login: String,
    pub exchange_user: String,
    pub server_url: String,
    pub error: Option<String>,
}

pub struct EditDialog {
    pub source: DataSource,
    /// The data source exists in the vault (under `stored_name`).
    pub saved: bool,
    stored_name: String,
    pub tab: Tab,
    microsoft: bool,
    cloud: Cloud,
    tenant: String,
    login_host: Option<Url>,
    issuer: String,
    client_id: String,
    secret: String,
    show_secret: bool,
    api: Api,
    custom_scopes: String,
    email: String,
    server: ServerKind,
    ews_url: String,
    /// Override of the cloud's Graph / Exchange Online host (proxies, test tenants).
    api_root: String,
    /// The refresh-token lifetime rule of a custom issuer: days (empty: none) and
    /// what they count from.
    refresh_days: String,
    refresh_from: RuleStart,
    pub confirm_clear: Option<TokenTarget>,
    pub mapping: Option<MappingEditor>,
    pub confirm_remove: Option<Uuid>,
    pub filter: String,
    pub sort: (SortBy, bool),
    /// Bumped whenever the draft's mappings change, so the sorted rows are
    /// recomputed only then (10,000 rows must not be sorted every frame).
    users_version: u64,
    rows_cache: Option<(RowsKey, Vec<Row>)>,
    pub error: Option<String>,
    pub testing: bool,
    /// The last Test Connection: the account the API answered for, or the problem.
    pub test_result: Option<Result<String, TestFailure>>,
    /// The admin took Test Connection's offer to leave EWS for Graph.
    switched_to_graph: bool,
    /// True until the dialog has been drawn once: the click or key that opened it
    /// must not also close it.
    fresh: bool,
}

impl EditDialog {
    /// Adds the mapping to the draft, or replaces the one with its id.
    fn put_mapping(&mut self, mapping: UserMapping) {
        match self.source.users.iter_mut().find(|m| m.id == mapping.id) {
            Some(slot) => *slot = mapping,
            None => self.source.users.push(mapping),
        }
        self.users_version += 1;
    }

    pub fn new_source() -> Self {
        let config = ProviderConfig {
            authority: Authority::microsoft(Cloud::Global, ""),
            client_id: String::new(),
            client_secret: None,
            scopes: Scopes::Graph,
        };
        let mut dialog = Self::edit(&DataSource::new("", config, ""));
        dialog.saved = false;
        dialog
    }

    pub fn edit(source: &DataSource) -> Self {
        let (microsoft, cloud, tenant, login_host, issuer) = match &source.provider.authority {
            Authority::Microsoft {
                cloud,
                tenant,
                login_host,
            } => (
                true,
                *cloud,
                tenant.clone(),
                login_host.clone(),
                String::new(),
            ),
            Authority::Issuer { url } => {
                (false, Cloud::Global, String::new(), None, url.to_string())
            }
        };
        let (api, custom_scopes) = match &source.provider.scopes {
            Scopes::Ews => (Api::Ews, String::new()),
            Scopes::Graph => (Api::Graph, String::new()),
            Scopes::Custom(scopes) => (Api::Custom, scopes.clone()),
        };
        let (server, ews_url) = match &source.account.server {
            ExchangeServer::Office365 => (ServerKind::Office365, String::new()),
            ExchangeServer::Ews(url) => (ServerKind::Ews, url.to_string()),
            ExchangeServer::Graph => (ServerKind::Graph, String::new()),
        };
        EditDialog {
            source: source.clone(),
            saved: true,
            stored_name: source.name.clone(),
            tab: Tab::General,
            microsoft,
            cloud,
            tenant,
            login_host,
            issuer,
            client_id: source.provider.client_id.clone(),
            secret: source
                .provider
                .client_secret
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
            show_secret: false,
            api,
            custom_scopes,
            email: source.account.email.clone(),
            server,
            ews_url,
            api_root: source
                .account
                .api_root
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            refresh_days: source
                .refresh_rule
                .map(|r| r.days.to_string())
                .unwrap_or_default(),
            refresh_from: source
                .refresh_rule
                .map_or(RuleStart::LastUse, |r| r.counted_from),
            confirm_clear: None,
            mapping: None,
            confirm_remove: None,
            filter: String::new(),
            users_version: 0,
            rows_cache: None,
            sort: (SortBy::AppUser, true),
            error: None,
            testing: false,
            test_result: None,
            switched_to_graph: false,
            fresh: true,
        }
    }

    /// The provider settings as typed, with the first problem of each field.
    /// Test Connection's way out of a blocked EWS: the API and the server both become
    /// Microsoft Graph; nothing is stored until the admin saves.
    pub fn switch_to_graph(&mut self) {
        self.api = Api::Graph;
        self.server = ServerKind::Graph;
        self.test_result = None;
        self.switched_to_graph = true;
    }

    fn provider(&self) -> Result<ProviderConfig, String> {
        let authority = if self.microsoft {
            Authority::Microsoft {
                cloud: self.cloud,
                tenant: self.tenant.trim().to_string(),
                login_host: self.login_host.clone(),
            }
        } else {
            let url = Url::parse(self.issuer.trim())
                .map_err(|e| format!("The issuer URL is not a URL ({e})."))?;
            Authority::Issuer { url }
        };
        let config = ProviderConfig {
            authority,
            client_id: self.client_id.trim().to_string(),
            client_secret: (!self.secret.trim().is_empty())
                .then(|| Secret::new(self.secret.trim())),
            scopes: match self.api {
                Api::Ews => Scopes::Ews,
                Api::Graph => Scopes::Graph,
                Api::Custom => Scopes::Custom(self.custom_scopes.clone()),
            },
        };
        match config.validate().into_iter().next() {
            Some(problem) => Err(problem.message),
            None => Ok(config),
        }
    }

    fn build(&self) -> Result<DataSource, String> {
        if self.source.name.trim().is_empty() {
            return Err("Give the data source a name.".into());
        }
        let mut source = self.source.clone();
        source.provider = self.provider()?;
        validate_email(&self.email)?;
        source.account.email = self.email.trim().to_string();
        source.account.server = match self.server {
            ServerKind::Office365 => ExchangeServer::Office365,
            ServerKind::Graph => ExchangeServer::Graph,
            ServerKind::Ews => {
                let url = Url::parse(self.ews_url.trim())
                    .map_err(|e| format!("The EWS URL is not a URL ({e})."))?;
                check_endpoint_url(&url)?;
                ExchangeServer::Ews(url)
            }
        };
        source.refresh_rule = if self.microsoft {
            None
        } else {
            refresh_rule(&self.refresh_days, self.refresh_from)?
        };
        source.account.api_root = match self.api_root.trim() {
            "" => None,
            text => {
                let url =
                    Url::parse(text).map_err(|e| format!("The API root is not a URL ({e})."))?;
                check_endpoint_url(&url)?;
                Some(url)
            }
        };
        Ok(source)
    }

    /// Tokens shown in the dialog follow the vault.
    pub fn refresh_tokens(&mut self, data: &VaultData) {
        let Some(stored) = data.data_sources.iter().find(|d| d.id == self.source.id) else {
            return;
        };
        self.saved = true;
        self.stored_name = stored.name.clone();
        self.source.token = stored.token.clone();
        let stored_tokens: std::collections::HashMap<Uuid, &TokenRecord> =
            stored.users.iter().map(|m| (m.id, &m.token)).collect();
        for mapping in self.source.users.iter_mut() {
            if let Some(token) = stored_tokens.get(&mapping.id) {
                mapping.token = (*token).clone();
            }
        }
        self.users_version += 1;
    }

    fn target(&self, login: Option<&str>) -> TokenTarget {
        TokenTarget {
            data_source: self.stored_name.clone(),
            app_user: login.map(String::from),
        }
    }

    fn stored_mapping(&self, data: Option<&VaultData>, login: &str) -> bool {
        data.and_then(|d| d.data_sources.iter().find(|s| s.id == self.source.id))
            .is_some_and(|s| s.mapping(login).is_some())
    }

    /// Keeps the tokens of a sign-in made before the data source was saved.
    pub fn take_sign_in(&mut self, target: &TokenTarget, tokens: &TokenSet) {
        let record = match &target.app_user {
            None => Some(&mut self.source.token),
            Some(login) => self.source.mapping_mut(login).map(|m| &mut m.token),
        };
        if let Some(record) = record {
            record.store_sign_in(tokens);
        }
    }
}

pub fn show(state: &mut AppState, ui: &mut egui::Ui) {
    let Some(mut dialog) = state.editor.take() else {
        return;
    };
    let first_frame = std::mem::replace(&mut dialog.fresh, false);
    let mut keep_open = true;
    let modal = egui::Modal::new(egui::Id::unique("edit-data-source")).show(ui.ctx(), |ui| {
        ui.set_width(720.0);
        ui.heading(state.tr("Edit data source"));
        ui.horizontal(|ui| {
            for (tab, title) in [
                (Tab::General, "General"),
                (Tab::ExchangeAccount, "Exchange account"),
                (Tab::AdditionalUsers, "Additional users"),
            ] {
                ui.selectable_value(&mut dialog.tab, tab, state.tr(title));
            }
        });
        ui.separator();
        egui::ScrollArea::vertical()
            .max_height(460.0)
            .show(ui, |ui| match dialog.tab {
                Tab::General => general_tab(state, ui, &mut dialog),
                Tab::ExchangeAccount => exchange_tab(state, ui, &mut dialog),
                Tab::AdditionalUsers => users_tab(state, ui, &mut dialog),
            });
        ui.separator();
        if let Some(error) = &dialog.error {
            ui.colored_label(DANGER, error);
        }
        ui.horizontal(|ui| {
            let ok = ui.button(state.tr("OK"));
            let enter = !first_frame
                && dialog.mapping.is_none()
                && dialog.confirm_clear.is_none()
                && state.sign_in.is_none()
                && ui.input(|i| i.key_pressed(egui::Key::Enter))
                && !ui.ctx().text_edit_focused();
            if ok.clicked() || enter {
                match dialog.build() {
                    Ok(source) => {
                        state.send(Command::SaveDataSource(Box::new(source)));
                        keep_open = false;
                    }
                    Err(error) => dialog.error = Some(error),
                }
            }
            if ui.button(state.tr("Cancel")).clicked() {
                keep_open = false;
            }
        });
    });
    // Esc closes the dialog unless a nested dialog takes it.
    if modal.should_close()
        && dialog.mapping.is_none()
        && dialog.confirm_clear.is_none()
        && state.sign_in.is_none()
    {
        keep_open = false;
    }
    mapping_editor(state, ui, &mut dialog);
    confirm_clear(state, ui, &mut dialog);
    confirm_remove(state, ui, &mut dialog);
    if keep_open {
        state.editor = Some(dialog);
    }
}

fn field_error(ui: &mut egui::Ui, problem: Option<String>) {
    if let Some(problem) = problem {
        ui.colored_label(DANGER, problem);
    }
}

/// The lifetime rule as typed: none when the field is empty.
fn refresh_rule(days: &str, from: RuleStart) -> Result<Option<RefreshRule>, String> {
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

fn general_tab(state: &AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    egui::Grid::new("general")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            labelled_edit(
                ui,
                state.tr("Data source name"),
                &mut dialog.source.name,
                false,
            );
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
                labelled_edit(ui, state.tr("Tenant"), &mut dialog.tenant, false);
                ui.end_row();
            } else {
                labelled_edit(ui, state.tr("Issuer URL"), &mut dialog.issuer, false);
                ui.end_row();
                // Used only when the provider's answers do not state a lifetime;
                // empty means "unknown", never a guessed number.
                labelled_edit(
                    ui,
                    state.tr("Refresh token lifetime (days, if the provider does not say)"),
                    &mut dialog.refresh_days,
                    false,
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
            labelled_edit(ui, state.tr("Client ID"), &mut dialog.client_id, false);
            ui.end_row();
            let label = ui.label(state.tr("Client secret (optional)"));
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut dialog.secret)
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
                labelled_edit(ui, state.tr("Scopes"), &mut dialog.custom_scopes, false);
                ui.end_row();
            }
        });
    // Inline validation as the admin types.
    if dialog.microsoft {
        field_error(ui, validate_tenant(&dialog.tenant).err());
    } else {
        let problem = match Url::parse(dialog.issuer.trim()) {
            Ok(url) => check_endpoint_url(&url).err(),
            Err(_) => Some("Enter the issuer URL of the OpenID provider, e.g. https://id.example.org/realms/main.".to_string()),
        };
        field_error(ui, problem);
        field_error(
            ui,
            refresh_rule(&dialog.refresh_days, dialog.refresh_from).err(),
        );
    }
    field_error(
        ui,
        validate_client_id(&dialog.client_id, dialog.microsoft).err(),
    );
    if dialog.api == Api::Ews {
        ui.colored_label(
            super::main_window::WARNING,
            state.tr("Exchange Online blocks EWS unless the tenant allows this app (EWSEnabled, EwsAllowedAppIDs) and ends it on 2027-04-01; prefer Microsoft Graph."),
        );
    }
    if dialog.api == Api::Custom {
        field_error(
            ui,
            validate_scopes(&dialog.custom_scopes, dialog.microsoft).err(),
        );
    }
}

/// What the Request button looks like for a token: Intrexx grays it while a valid
/// token has more than 30 days; inside the last 10 days, expired or rejected it is
/// highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestButton {
    Disabled,
    Enabled,
    Highlighted,
}

pub fn request_button(state: TokenState) -> RequestButton {
    match state {
        TokenState::Healthy | TokenState::AtRisk => RequestButton::Disabled,
        TokenState::ReminderDue => RequestButton::Enabled,
        TokenState::RenewalForced
        | TokenState::Expired
        | TokenState::NeedsSignIn
        | TokenState::Missing => RequestButton::Highlighted,
    }
}

fn token_details(
    state: &AppState,
    ui: &mut egui::Ui,
    record: &TokenRecord,
    settings: &crate::vault::Settings,
    lifetime: policy::Lifetime,
) -> TokenState {
    let status = policy::evaluate(record, settings, lifetime, state.now());
    egui::Grid::new(ui.next_auto_id())
        .num_columns(2)
        .spacing([12.0, 4.0])
        .show(ui, |ui| {
            ui.label(state.tr("State"));
            let text = state.tr(status.state.label());
            match state_color(status.state) {
                Some(color) => ui.colored_label(color, RichText::new(text).strong()),
                None => ui.label(text),
            };
            ui.end_row();
            if let Some(identity) = &record.identity {
                ui.label(state.tr("Signed in as"));
                ui.label(identity.account().unwrap_or("–"));
                ui.end_row();
            }
            let date = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map(|at| state.locale.date_time(at))
                    .unwrap_or_else(|| "–".into())
            };
            ui.label(state.tr("Obtained"));
            ui.label(date(record.obtained_at));
            ui.end_row();
            ui.label(state.tr("Last renewed"));
            ui.label(date(record.last_redeemed_at));
            ui.end_row();
            ui.label(state.tr("Expires on"));
            if record.refresh_token.is_some() {
                // Said in words where the date comes from; "unknown" is never a guess.
                ui.label(match status.expires_at {
                    Some(at) => format!(
                        "{} ({})",
                        state.locale.date_time(at),
                        state.tr(status.basis.label())
                    ),
                    None => state.tr(status.basis.label()).to_string(),
                });
            } else {
                ui.label("–");
            }
            ui.end_row();
            ui.label(state.tr("Days left"));
            ui.label(
                status
                    .days_left
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "–".into()),
            );
            ui.end_row();
            if let Some(error) = &record.last_error {
                ui.label(state.tr("Last error"));
                ui.colored_label(
                    DANGER,
                    format!("{} {}", error.message, error.code.as_deref().unwrap_or("")),
                );
                ui.end_row();
            }
        });
    status.state
}

fn request_button_ui(state: &AppState, ui: &mut egui::Ui, token_state: TokenState) -> bool {
    let label = state.tr("Request MS365 Refresh Token");
    match request_button(token_state) {
        RequestButton::Disabled => {
            ui.add_enabled(false, egui::Button::new(label));
            false
        }
        RequestButton::Enabled => ui.button(label).clicked(),
        RequestButton::Highlighted => ui
            .add(
                egui::Button::new(RichText::new(label).strong().color(egui::Color32::WHITE))
                    .fill(DANGER),
            )
            .clicked(),
    }
}

fn start_sign_in(
    state: &mut AppState,
    dialog: &mut EditDialog,
    login: Option<&str>,
    expected: String,
    saved: bool,
) {
    match dialog.provider() {
        Ok(config) => {
            let sign_in = SignInDialog::new(dialog.target(login), expected, saved, &config)
                .with_graph_root(Url::parse(dialog.api_root.trim()).ok());
            state.send(sign_in.start_command());
            state.sign_in = Some(sign_in);
        }
        Err(problem) => {
            dialog.tab = Tab::General;
            dialog.error = Some(problem);
        }
    }
}

fn exchange_tab(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    egui::Grid::new("account")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            labelled_edit(ui, state.tr("E-mail / user name"), &mut dialog.email, false);
            ui.end_row();
            ui.label(state.tr("Server"));
            ui.horizontal(|ui| {
                ui.radio_value(&mut dialog.server, ServerKind::Office365, "Office365");
                ui.radio_value(&mut dialog.server, ServerKind::Ews, state.tr("EWS URL"));
                ui.radio_value(&mut dialog.server, ServerKind::Graph, "Microsoft Graph");
            });
            ui.end_row();
            if dialog.server == ServerKind::Ews {
                labelled_edit(ui, state.tr("EWS URL"), &mut dialog.ews_url, false);
                ui.end_row();
            } else {
                labelled_edit(
                    ui,
                    state.tr("API root (optional)"),
                    &mut dialog.api_root,
                    false,
                );
                ui.end_row();
            }
        });
    field_error(ui, validate_email(&dialog.email).err());
    if !dialog.api_root.trim().is_empty() && dialog.server != ServerKind::Ews {
        let problem = match Url::parse(dialog.api_root.trim()) {
            Ok(url) => check_endpoint_url(&url).err(),
            Err(_) => {
                Some("Enter the API root as a URL, e.g. https://graph.microsoft.com/.".to_string())
            }
        };
        field_error(ui, problem);
    }
    ui.separator();
    let Some(data) = state.shared_data() else {
        return;
    };
    let lifetime = policy::Lifetime::of(&dialog.source);
    let token_state = token_details(state, ui, &dialog.source.token, &data.settings, lifetime);
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        if request_button_ui(state, ui, token_state) {
            match validate_email(&dialog.email) {
                Ok(()) => {
                    let expected = dialog.email.trim().to_string();
                    let saved = dialog.saved;
                    start_sign_in(state, dialog, None, expected, saved);
                }
                Err(problem) => dialog.error = Some(problem),
            }
        }
        let can_test = dialog.saved && dialog.source.token.has_refresh_token() && !dialog.testing;
        if ui
            .add_enabled(can_test, egui::Button::new(state.tr("Test Connection")))
            .clicked()
        {
            dialog.test_result = None;
            if token_state.is_urgent() {
                // Inside the last 10 days, as in ASSURE, testing forces the renewal.
                let expected = dialog.email.trim().to_string();
                start_sign_in(state, dialog, None, expected, true);
            } else {
                dialog.testing = true;
                state.send(Command::TestConnection(dialog.target(None)));
            }
        }
        let can_clear = dialog.saved && dialog.source.token.has_refresh_token();
        if ui
            .add_enabled(can_clear, egui::Button::new(state.tr("Clear Token")))
            .clicked()
        {
            dialog.confirm_clear = Some(dialog.target(None));
        }
    });
    test_result_ui(state, ui, dialog);
}

/// The outcome of the last Test Connection, under the buttons that started it.
fn test_result_ui(state: &AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    if dialog.testing {
        ui.spinner();
    }
    match &dialog.test_result {
        Some(Ok(account)) => {
            ui.colored_label(
                egui::Color32::from_rgb(0x2e, 0x7d, 0x32),
                format!("{}: {account}", state.tr("Connection works")),
            );
        }
        Some(Err(problem)) => {
            ui.colored_label(DANGER, &problem.message);
            if problem.ews_blocked
                && ui
                    .button(state.tr("Switch this data source to Microsoft Graph"))
                    .clicked()
            {
                dialog.switch_to_graph();
            }
        }
        None => {}
    }
    if dialog.switched_to_graph {
        ui.label(state.tr("Switched to Microsoft Graph: save with OK, then Test Connection again. If Microsoft answers that consent is missing, request a new refresh token."));
    }
}

/// One row of the Additional users table: the mapping's index, state and days left.
type Row = (usize, TokenState, Option<i64>);

/// What the sorted rows depend on. Token states move with the clock, so the minute
/// is part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowsKey {
    filter: String,
    sort: (SortBy, bool),
    users_version: u64,
    vault_generation: u64,
    minute: i64,
}

fn sorted_rows(
    dialog: &mut EditDialog,
    data: &VaultData,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Row> {
    let key = RowsKey {
        filter: dialog.filter.trim().to_lowercase(),
        sort: dialog.sort,
        users_version: dialog.users_version,
        vault_generation: data.generation,
        minute: now.timestamp().div_euclid(60),
    };
    if let Some((cached_key, rows)) = &dialog.rows_cache
        && *cached_key == key
    {
        return rows.clone();
    }
    let filter = &key.filter;
    let users = &dialog.source.users;
    let lifetime = policy::Lifetime::of(&dialog.source);
    let mut rows: Vec<Row> = users
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            filter.is_empty()
                || m.app_user.login.to_lowercase().contains(filter)
                || m.app_user.display_name.to_lowercase().contains(filter)
                || m.exchange_user.to_lowercase().contains(filter)
        })
        .map(|(i, m)| {
            let status = policy::evaluate(&m.token, &data.settings, lifetime, now);
            (i, status.state, status.days_left)
        })
        .collect();
    match dialog.sort.0 {
        SortBy::AppUser => rows.sort_by_cached_key(|r| users[r.0].app_user.login.to_lowercase()),
        SortBy::ExchangeUser => {
            rows.sort_by_cached_key(|r| users[r.0].exchange_user.to_lowercase())
        }
        SortBy::State => rows.sort_by_key(|r| std::cmp::Reverse(r.1)),
        SortBy::DaysLeft => rows.sort_by_key(|r| r.2.unwrap_or(i64::MIN)),
    }
    if !dialog.sort.1 {
        rows.reverse();
    }
    dialog.rows_cache = Some((key, rows.clone()));
    rows
}

fn users_tab(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let Some(data) = state.shared_data() else {
        return;
    };
    let now = state.now();
    ui.horizontal(|ui| {
        if ui.button("+").on_hover_text(state.tr("Add")).clicked()
            || ui.button(state.tr("Add")).clicked()
        {
            dialog.test_result = None;
            dialog.mapping = Some(MappingEditor {
                editing: None,
                login: String::new(),
                exchange_user: String::new(),
                server_url: String::new(),
                error: None,
            });
        }
        labelled_edit(ui, state.tr("Filter"), &mut dialog.filter, false);
    });
    let rows = sorted_rows(dialog, &data, now);
    let mut edit: Option<usize> = None;
    let mut remove: Option<usize> = None;
    let columns = [
        (SortBy::AppUser, "Application user"),
        (SortBy::ExchangeUser, "Exchange user"),
        (SortBy::State, "Token"),
        (SortBy::DaysLeft, "Days left"),
    ];
    TableBuilder::new(ui)
        .id_salt("additional-users")
        .striped(true)
        .max_scroll_height(300.0)
        .column(Column::auto().at_least(150.0))
        .column(Column::auto().at_least(170.0))
        .column(Column::auto().at_least(100.0))
        .column(Column::auto().at_least(60.0))
        .column(Column::auto().at_least(110.0))
        .column(Column::remainder())
        .header(22.0, |mut header| {
            for (sort, title) in columns {
                header.col(|ui| {
                    let arrow = if dialog.sort.0 == sort {
                        if dialog.sort.1 { " ^" } else { " v" }
                    } else {
                        ""
                    };
                    if ui.button(format!("{}{arrow}", state.tr(title))).clicked() {
                        dialog.sort = if dialog.sort.0 == sort {
                            (sort, !dialog.sort.1)
                        } else {
                            (sort, true)
                        };
                    }
                });
            }
            header.col(|ui| {
                ui.strong(state.tr("Expires on"));
            });
            header.col(|ui| {
                ui.strong(state.tr("Last error"));
            });
        })
        .body(|body| {
            body.rows(22.0, rows.len(), |mut row| {
                let (index, token_state, days_left) = rows[row.index()];
                let mapping = &dialog.source.users[index];
                row.col(|ui| {
                    let response = ui.selectable_label(false, &mapping.app_user.login);
                    if response.double_clicked() {
                        edit = Some(index);
                    }
                    response.context_menu(|ui| {
                        if ui.button(state.tr("Edit")).clicked() {
                            edit = Some(index);
                            ui.close();
                        }
                        if ui.button(state.tr("Remove")).clicked() {
                            remove = Some(index);
                            ui.close();
                        }
                    });
                });
                row.col(|ui| {
                    ui.label(&mapping.exchange_user);
                });
                row.col(|ui| {
                    let text = state.tr(token_state.label());
                    match state_color(token_state) {
                        Some(color) => ui.colored_label(color, text),
                        None => ui.label(text),
                    };
                });
                row.col(|ui| {
                    ui.label(
                        days_left
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "–".into()),
                    );
                });
                row.col(|ui| {
                    let expires = policy::expires_at(
                        &mapping.token,
                        &data.settings,
                        policy::Lifetime::of(&dialog.source),
                    );
                    ui.label(
                        expires
                            .map(|at| state.locale.date_time(at))
                            .unwrap_or_else(|| "–".into()),
                    );
                });
                row.col(|ui| {
                    if let Some(error) = &mapping.token.last_error {
                        ui.colored_label(DANGER, error.code.as_deref().unwrap_or(&error.message));
                    }
                });
            });
        });
    if let Some(index) = edit {
        let mapping = &dialog.source.users[index];
        dialog.test_result = None;
        dialog.mapping = Some(MappingEditor {
            editing: Some(mapping.id),
            login: mapping.app_user.login.clone(),
            exchange_user: mapping.exchange_user.clone(),
            server_url: mapping
                .server_url
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            error: None,
        });
    }
    if let Some(index) = remove {
        dialog.confirm_remove = Some(dialog.source.users[index].id);
    }
}

/// Checks a mapping against the others and the directory; returns it ready to store.
fn build_mapping(
    dialog: &EditDialog,
    editor: &MappingEditor,
    directory: &[AppUser],
) -> Result<UserMapping, String> {
    let login = editor.login.trim();
    if login.is_empty() {
        return Err("Choose the application user to map.".into());
    }
    validate_email(&editor.exchange_user)?;
    if dialog
        .source
        .users
        .iter()
        .any(|m| Some(m.id) != editor.editing && m.app_user.login.eq_ignore_ascii_case(login))
    {
        return Err(format!(
            "The application user '{login}' is already mapped; edit that mapping instead."
        ));
    }
    let server_url = match editor.server_url.trim() {
        "" => None,
        text => {
            let url =
                Url::parse(text).map_err(|e| format!("The server URL is not a URL ({e})."))?;
            check_endpoint_url(&url)?;
            Some(url)
        }
    };
    let app_user = directory
        .iter()
        .find(|u| u.login.eq_ignore_ascii_case(login))
        .cloned()
        .unwrap_or_else(|| AppUser {
            login: login.to_string(),
            display_name: String::new(),
            email: String::new(),
        });
    let existing = editor
        .editing
        .and_then(|id| dialog.source.users.iter().find(|m| m.id == id));
    Ok(UserMapping {
        id: existing.map(|m| m.id).unwrap_or_else(Uuid::new_v4),
        app_user,
        exchange_user: editor.exchange_user.trim().to_string(),
        server_url,
        token: existing.map(|m| m.token.clone()).unwrap_or_default(),
    })
}

fn mapping_editor(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let Some(mut editor) = dialog.mapping.take() else {
        return;
    };
    let directory = state
        .data()
        .map(|d| d.directory.clone())
        .unwrap_or_default();
    let mut keep = true;
    let mut request: Option<UserMapping> = None;
    let modal = super::widgets::nested_modal(ui.ctx(), "mapping-editor", |ui| {
        ui.set_width(520.0);
        ui.heading(state.tr("Additional users"));
        egui::Grid::new("mapping")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                labelled_edit(ui, state.tr("Application user"), &mut editor.login, false);
                ui.end_row();
                ui.label("");
                ui.vertical(|ui| {
                    let needle = editor.login.trim().to_lowercase();
                    let matches: Vec<&AppUser> = directory
                        .iter()
                        .filter(|u| {
                            !needle.is_empty()
                                && !u.login.eq_ignore_ascii_case(&needle)
                                && (u.login.to_lowercase().contains(&needle)
                                    || u.display_name.to_lowercase().contains(&needle))
                        })
                        .take(8)
                        .collect();
                    for user in matches {
                        if ui
                            .selectable_label(
                                false,
                                format!("{} — {}", user.login, user.display_name),
                            )
                            .clicked()
                        {
                            editor.login = user.login.clone();
                            if editor.exchange_user.is_empty() {
                                editor.exchange_user = user.email.clone();
                            }
                        }
                    }
                });
                ui.end_row();
                labelled_edit(
                    ui,
                    state.tr("Exchange user"),
                    &mut editor.exchange_user,
                    false,
                );
                ui.end_row();
                labelled_edit(
                    ui,
                    state.tr("Server URL (optional)"),
                    &mut editor.server_url,
                    false,
                );
                ui.end_row();
            });
        if let Some(error) = &editor.error {
            ui.colored_label(DANGER, error);
        }
        let stored =
            editor.editing.is_some() && dialog.stored_mapping(state.data(), editor.login.trim());
        ui.horizontal(|ui| {
            if ui.button(state.tr("OK")).clicked() {
                match build_mapping(dialog, &editor, &directory) {
                    Ok(mapping) => {
                        dialog.put_mapping(mapping);
                        keep = false;
                    }
                    Err(error) => editor.error = Some(error),
                }
            }
            if ui.button(state.tr("Cancel")).clicked() {
                keep = false;
            }
            if ui.button(state.tr("Request MS365 Refresh Token")).clicked() {
                match build_mapping(dialog, &editor, &directory) {
                    Ok(mapping) => request = Some(mapping),
                    Err(error) => editor.error = Some(error),
                }
            }
            let can_test = stored && !dialog.testing;
            if ui
                .add_enabled(can_test, egui::Button::new(state.tr("Test Connection")))
                .clicked()
            {
                dialog.test_result = None;
                dialog.testing = true;
                state.send(Command::TestConnection(
                    dialog.target(Some(editor.login.trim())),
                ));
            }
            if !stored {
                ui.label(state.tr("Save the data source with OK first."));
            }
        });
        test_result_ui(state, ui, dialog);
    });
    if modal.should_close() && state.sign_in.is_none() {
        keep = false;
    }
    if let Some(mapping) = request {
        let login = mapping.app_user.login.clone();
        let expected = mapping.exchange_user.clone();
        dialog.put_mapping(mapping);
        let saved = dialog.saved && dialog.stored_mapping(state.data(), &login);
        start_sign_in(state, dialog, Some(&login), expected, saved);
        keep = false;
    }
    if keep {
        dialog.mapping = Some(editor);
    }
}

fn confirm_clear(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let Some(target) = dialog.confirm_clear.clone() else {
        return;
    };
    let modal = super::widgets::nested_modal(ui.ctx(), "confirm-clear", |ui| {
        ui.heading(state.tr("Clear Token"));
        ui.label(state.tr(
            "Clear this token? The connection stays suspended until a new token is requested.",
        ));
        ui.horizontal(|ui| {
            if ui.button(state.tr("Yes")).clicked() {
                state.send(Command::ClearToken(target.clone()));
                dialog.confirm_clear = None;
            }
            if ui.button(state.tr("No")).clicked() {
                dialog.confirm_clear = None;
            }
        });
    });
    if modal.should_close() {
        dialog.confirm_clear = None;
    }
}

fn confirm_remove(state: &mut AppState, ui: &mut egui::Ui, dialog: &mut EditDialog) {
    let Some(id) = dialog.confirm_remove else {
        return;
    };
    let modal = super::widgets::nested_modal(ui.ctx(), "confirm-remove", |ui| {
        ui.label(state.tr("Remove this mapping and its token?"));
        ui.horizontal(|ui| {
            if ui.button(state.tr("Remove")).clicked() {
                dialog.source.users.retain(|m| m.id != id);
                dialog.users_version += 1;
                dialog.confirm_remove = None;
            }
            if ui.button(state.tr("Cancel")).clicked() {
                dialog.confirm_remove = None;
            }
        });
    });
    if modal.should_close() {
        dialog.confirm_remove = None;
    }
}
