//! The *Edit data source* dialog with its General, Exchange account and Additional
//! users tabs. Settings are a draft until OK; tokens are not settings and are
//! written as soon as they are obtained or cleared.

mod exchange_tab;
mod general_tab;
mod mapping_editor;
mod users_tab;

#[cfg(test)]
mod form_tests;

use exchange_tab::*;
pub use exchange_tab::{RequestButton, request_button, request_label};
use general_tab::*;
use mapping_editor::*;
use users_tab::*;

use egui::RichText;
use egui_extras::{Column, TableBuilder};
use url::Url;
use uuid::Uuid;

use super::app::AppState;
use super::main_window::DANGER;
use super::sign_in_dialog::SignInDialog;
use super::widgets::labelled_edit;
use super::worker::{Command, TestFailure};
use crate::desk::model::{
    AppUser, Authority, Cloud, DataSource, ExchangeServer, ProviderConfig, RefreshRule, RuleStart,
    Scopes, Secret, TokenRecord, TokenSet, TokenState, TokenTarget, UserMapping, VaultData, policy,
};
use crate::desk::rules::{
    check_endpoint_url, validate_client_id, validate_email, validate_scopes, validate_tenant,
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
    /// The mail servers the mailbox submits through (notifications, the relay)
    /// and is read from (the relay), `host:port`.
    mail_server: String,
    imap_server: String,
    /// The refresh-token lifetime rule of a custom issuer: days (empty: none) and
    /// what they count from.
    refresh_days: String,
    refresh_from: RuleStart,
    /// The browser sign-in's redirect URI; empty: the provider's default.
    redirect_uri: String,
    pub confirm_clear: Option<TokenTarget>,
    pub mapping: Option<MappingEditor>,
    pub confirm_remove: Option<Uuid>,
    pub filter: String,
    pub sort: (SortBy, bool),
    /// Bumped whenever the draft's mappings change, so the sorted rows are
    /// recomputed only then (10,000 rows must not be sorted every frame).
    users_version: u64,
    rows_cache: Option<(RowsKey, Vec<Row>)>,
    /// OK was pressed: empty required fields now say so.
    pub tried_ok: bool,
    pub error: Option<String>,
    pub testing: bool,
    /// The last Test Connection: the account the API answered for, or the problem.
    /// Clear also asks the provider to revoke (RFC 7009), where it offers that.
    pub revoke_on_clear: bool,
    /// The last Revoke and Clear: revoked or not offered, or why nothing changed.
    pub revocation: Option<Result<bool, String>>,
    pub test_result: Option<Result<String, TestFailure>>,
    /// The admin took Test Connection's offer to leave EWS for Graph.
    switched_to_graph: bool,
    /// True until the dialog has been drawn once: the click or key that opened it
    /// must not also close it.
    fresh: bool,
    /// A sign-in finished while the draft could not be saved: its tokens are only
    /// here, so Cancel asks first.
    pub unsaved_sign_in: bool,
    /// Cancel was pressed once with such a sign-in: the second press discards it.
    pub confirm_discard: bool,
    /// A sign-in was stored together with this (new) data source or user before OK.
    pub stored_early: bool,
}

impl EditDialog {
    /// Adds the mapping to the draft, or replaces the one with its id.
    fn put_mapping(&mut self, mapping: UserMapping) {
        crate::desk::mappings::put(&mut self.source, mapping);
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
            mail_server: source.account.smtp_upstream.clone().unwrap_or_default(),
            imap_server: source.account.imap_upstream.clone().unwrap_or_default(),
            refresh_days: source
                .refresh_rule
                .map(|r| r.days.to_string())
                .unwrap_or_default(),
            refresh_from: source
                .refresh_rule
                .map_or(RuleStart::LastUse, |r| r.counted_from),
            redirect_uri: source.redirect_uri.clone().unwrap_or_default(),
            confirm_clear: None,
            mapping: None,
            confirm_remove: None,
            filter: String::new(),
            users_version: 0,
            rows_cache: None,
            sort: (SortBy::AppUser, true),
            error: None,
            tried_ok: false,
            testing: false,
            test_result: None,
            revoke_on_clear: false,
            revocation: None,
            switched_to_graph: false,
            fresh: true,
            unsaved_sign_in: false,
            confirm_discard: false,
            stored_early: false,
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

    /// The server the data source talks to: Graph for the Graph API, Exchange Online
    /// or an on-premises EWS URL for EWS, the admin's choice for custom scopes.
    fn effective_server(&self) -> ServerKind {
        match (self.api, self.server) {
            (Api::Graph, _) => ServerKind::Graph,
            (Api::Ews, ServerKind::Graph) => ServerKind::Office365,
            (_, server) => server,
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
        source.account.server = match self.effective_server() {
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
        source.redirect_uri = match self.redirect_uri.trim() {
            "" => None,
            text => {
                crate::desk::sign_in::RedirectUri::parse(text)?;
                Some(text.to_string())
            }
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
        source.account.smtp_upstream = optional_upstream(&self.mail_server)?;
        source.account.imap_upstream = optional_upstream(&self.imap_server)?;
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
                std::sync::Arc::make_mut(mapping).token = (*token).clone();
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

    /// What the vault lacks for a sign-in of `target` to be stored: this additional
    /// user of the saved data source, or the whole data source as the draft would
    /// be saved (its mappings with it). An error when the draft cannot be saved.
    pub fn unsaved_for(
        &self,
        target: &TokenTarget,
    ) -> Result<crate::desk::tokens::Unsaved, String> {
        use crate::desk::tokens::Unsaved;
        if let (true, Some(login)) = (self.saved, &target.app_user) {
            let mapping = self
                .source
                .mapping(login)
                .cloned()
                .ok_or_else(|| format!("'{login}' is no longer in this dialog."))?;
            return Ok(Unsaved::Mapping {
                source: self.source.id,
                mapping: Box::new(mapping),
            });
        }
        self.build()
            .map(|source| Unsaved::DataSource(Box::new(source)))
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
    let modal = crate::ui::widgets::stable_modal("edit-data-source").show(ui.ctx(), |ui| {
        ui.set_width(720.0);
        ui.heading(state.tr(if dialog.saved {
            "Edit data source"
        } else {
            "New data source"
        }));
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
            ui.colored_label(DANGER, crate::ui::errors::sentence(error, state.locale));
        }
        if dialog.stored_early {
            ui.label(state.tr(
                "The finished sign-in was saved at once, together with what it belongs to; Cancel does not undo it.",
            ));
        }
        if dialog.confirm_discard {
            ui.colored_label(
                DANGER,
                state.tr(
                    "A finished sign-in is kept only in this dialog until OK saves it. Press Cancel again to discard it.",
                ),
            );
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
                    Err(error) => {
                        dialog.error = Some(error);
                        dialog.tried_ok = true;
                    }
                }
            }
            if ui.button(state.tr("Cancel")).clicked() {
                if dialog.unsaved_sign_in && !dialog.confirm_discard {
                    dialog.confirm_discard = true;
                } else {
                    keep_open = false;
                }
            }
        });
    });
    // Esc closes the dialog unless a nested dialog takes it, or a finished sign-in
    // would be lost (then it asks, as Cancel does).
    if modal.should_close()
        && dialog.mapping.is_none()
        && dialog.confirm_clear.is_none()
        && state.sign_in.is_none()
    {
        if dialog.unsaved_sign_in && !dialog.confirm_discard {
            dialog.confirm_discard = true;
        } else {
            keep_open = false;
        }
    }
    mapping_editor(state, ui, &mut dialog);
    confirm_clear(state, ui, &mut dialog);
    confirm_remove(state, ui, &mut dialog);
    if keep_open {
        state.editor = Some(dialog);
    }
}

fn field_error(locale: crate::ui::i18n::Locale, ui: &mut egui::Ui, problem: Option<String>) {
    if let Some(problem) = problem {
        ui.colored_label(DANGER, crate::ui::errors::sentence(&problem, locale));
    }
}

/// A mail server field: empty for none (Microsoft's default), else `host:port`.
fn optional_upstream(text: &str) -> Result<Option<String>, String> {
    match text.trim() {
        "" => Ok(None),
        text => crate::desk::notify::check_upstream(text).map(|()| Some(text.to_string())),
    }
}
