//! The OAuth 2.0 client: discovery, the device authorization grant, refresh with
//! rotation, and the classification of every provider error.

pub mod browser;
pub mod config;
pub mod device;
pub mod discovery;
pub mod error;
pub mod http;
pub(crate) mod naming;
pub mod tls;
pub mod token;
pub mod validate;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use url::Url;

pub use config::{Authority, Cloud, ConfigField, ConfigProblem, ProviderConfig, Scopes};
pub use device::{DeviceAuthorization, DevicePoller, PollAction, PollEvent, PollStep};
pub use discovery::{ClientAuthMethod, Endpoints};
pub use error::{ErrorKind, IdentityError};
pub use http::{HttpClient, HttpOptions};
pub use token::{RefreshAnswer, SignedInIdentity, TokenSet};

use crate::clock::{Clock, Sleeper};
use crate::secret::Secret;

/// The cloud's Graph host for a Microsoft authority; none for other providers.
fn default_graph_root(config: &ProviderConfig) -> Option<Url> {
    config
        .authority
        .cloud()
        .and_then(|cloud| Url::parse(cloud.graph_root()).ok())
}

/// A sign-in that worked but left nothing to keep alive.
fn no_refresh_token() -> IdentityError {
    IdentityError::admin(
        "The sign-in worked but the provider issued no refresh token, so the connection would die within the hour. Add offline_access to the scopes (the EWS and Graph presets include it) and sign in again.",
    )
}

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A provider configuration whose endpoints are known, ready to sign in and refresh.
#[derive(Debug, Clone)]
pub struct IdentityClient {
    http: HttpClient,
    config: ProviderConfig,
    endpoints: Endpoints,
    /// Microsoft Graph's root, asked for the account's name when neither the
    /// id_token nor userinfo names it; Microsoft authorities only.
    graph_root: Option<Url>,
}

impl IdentityClient {
    /// Checks the configuration and finds the endpoints.
    pub async fn connect(http: HttpClient, config: ProviderConfig) -> Result<Self, IdentityError> {
        if let Some(problem) = config.validate().into_iter().next() {
            return Err(IdentityError::admin(problem.message));
        }
        let endpoints = discovery::discover(&http, &config.authority).await?;
        Self::with_endpoints(http, config, endpoints)
    }

    /// [`IdentityClient::connect`] with endpoints discovered earlier: used while
    /// younger than a day, so a renewal is one round trip, not two.
    pub fn with_endpoints(
        http: HttpClient,
        config: ProviderConfig,
        endpoints: Endpoints,
    ) -> Result<Self, IdentityError> {
        if let Some(problem) = config.validate().into_iter().next() {
            return Err(IdentityError::admin(problem.message));
        }
        let graph_root = default_graph_root(&config);
        Ok(IdentityClient {
            http,
            config,
            endpoints,
            graph_root,
        })
    }

    /// Asks Graph at `root` instead of the cloud's Graph host (a data source's API
    /// root: a proxy, the tests' loopback provider). Ignored for other providers.
    pub fn with_graph_root(mut self, root: Option<&Url>) -> Self {
        if let (Some(root), Some(_)) = (root, &self.graph_root) {
            self.graph_root = Some(root.clone());
        }
        self
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Adds the client's identity to a token-endpoint form; returns the HTTP Basic
    /// credentials to send instead when the client has a secret and the provider
    /// takes `client_secret_basic` (see [`Endpoints::client_auth_method`]).
    fn with_client_auth<'a>(
        &'a self,
        form: &mut Vec<(&'a str, &'a str)>,
    ) -> Option<(&'a str, &'a str)> {
        let id = self.config.client_id.trim();
        match self.config.effective_client_secret() {
            Some(secret)
                if self.endpoints.client_auth_method() == discovery::ClientAuthMethod::Basic =>
            {
                Some((id, secret.expose()))
            }
            Some(secret) => {
                form.push(("client_id", id));
                form.push(("client_secret", secret.expose()));
                None
            }
            None => {
                form.push(("client_id", id));
                None
            }
        }
    }

    /// Step one of the device flow: ask for a user code.
    pub async fn start_device_authorization(
        &self,
        now: DateTime<Utc>,
    ) -> Result<DeviceAuthorization, IdentityError> {
        let scope = self.config.scope_string();
        let mut form = Vec::new();
        let basic = self.with_client_auth(&mut form);
        form.push(("scope", scope.as_str()));
        let endpoint = self.endpoints.device_authorization.as_ref().ok_or_else(|| {
            IdentityError::admin(
                "This provider does not offer the device authorization grant (no device_authorization_endpoint in its discovery document). Sign in with the browser instead, or enable the device flow for this client.",
            )
        })?;
        let response = self.http.post_form(endpoint, &form, basic).await?;
        device::authorization_from(&response, now)
    }

    /// The browser sign-in's authorization request for `redirect_uri` (the
    /// listener's, port filled in), with the configured account as a hint.
    pub fn authorization_request(
        &self,
        redirect_uri: &str,
        login_hint: Option<&str>,
    ) -> Result<browser::AuthorizationRequest, IdentityError> {
        let endpoint = self.endpoints.authorization.as_ref().ok_or_else(|| {
            IdentityError::admin(
                "This provider names no authorization_endpoint in its discovery document, so it offers no browser sign-in. Use a code instead (device code flow).",
            )
        })?;
        Ok(browser::authorization_request(
            endpoint,
            self.config.client_id.trim(),
            &self.config.scope_string(),
            redirect_uri,
            login_hint,
            self.config.authority.is_microsoft(),
        ))
    }

    /// Redeems the browser's authorization code with the PKCE verifier (and the
    /// client secret of a confidential client); the id_token's nonce must be ours.
    pub async fn redeem_code(
        &self,
        request: &browser::AuthorizationRequest,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, IdentityError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("code_verifier", request.verifier.expose()),
        ];
        let basic = self.with_client_auth(&mut form);
        let mut tokens = self.token_request(&form, basic, now).await?;
        if let Some(identity) = &tokens.identity
            && identity.nonce.as_deref() != Some(request.nonce.as_str())
        {
            return Err(IdentityError::admin(
                "The provider's id_token does not carry the nonce of this sign-in, so it may belong to another sign-in. Nothing was stored; sign in again.",
            ));
        }
        self.name_account(&mut tokens).await;
        if tokens.refresh_token.is_none() {
            return Err(no_refresh_token());
        }
        Ok(tokens)
    }

    /// One token request for a pending device code.
    pub async fn poll_device_token(
        &self,
        authorization: &DeviceAuthorization,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, IdentityError> {
        let mut form = vec![
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", authorization.device_code.expose()),
        ];
        let basic = self.with_client_auth(&mut form);
        let mut tokens = self.token_request(&form, basic, now).await?;
        self.name_account(&mut tokens).await;
        if tokens.refresh_token.is_none() {
            return Err(no_refresh_token());
        }
        Ok(tokens)
    }

    /// Polls until the user approved, declined, the code expired or `cancel` fired.
    /// After a cancel nothing is returned, even if an approval arrives at that moment.
    pub async fn wait_for_device_approval<C: Clock, S: Sleeper>(
        &self,
        authorization: &DeviceAuthorization,
        clock: &C,
        sleeper: &S,
        cancel: &CancellationToken,
        mut on_event: impl FnMut(PollEvent) + Send,
    ) -> Result<TokenSet, IdentityError> {
        let mut poller = DevicePoller::new(authorization);
        loop {
            if cancel.is_cancelled() {
                return Err(IdentityError::cancelled());
            }
            let now = clock.now();
            match poller.next_action(now)? {
                PollAction::Wait(duration) => {
                    on_event(PollEvent::Waiting {
                        seconds_left: authorization.seconds_left(now),
                        interval: poller.interval(),
                    });
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return Err(IdentityError::cancelled()),
                        _ = sleeper.sleep(duration) => {}
                    }
                }
                PollAction::Poll => {
                    let answer = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return Err(IdentityError::cancelled()),
                        answer = self.poll_device_token(authorization, now) => answer,
                    };
                    if cancel.is_cancelled() {
                        return Err(IdentityError::cancelled());
                    }
                    let step = poller.on_answer(answer, clock.now());
                    on_event(PollEvent::Polled {
                        polls: poller.polls(),
                    });
                    match step {
                        PollStep::Continue => {}
                        PollStep::Done(tokens) => return Ok(tokens),
                        PollStep::Failed(error) => return Err(error),
                    }
                }
            }
        }
    }

    /// Redeems a refresh token. Only the guarded redemption path
    /// (`crate::redemption`) calls this: it holds the token's lock, has room to
    /// store the answer, and stores `RefreshAnswer::rotated` before anything else —
    /// the provider may have retired the old token even when the rest of the answer
    /// is unusable.
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        scope: Option<&str>,
        now: DateTime<Utc>,
    ) -> token::RefreshAnswer {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        let basic = self.with_client_auth(&mut form);
        if let Some(scope) = scope.filter(|s| !s.trim().is_empty()) {
            form.push(("scope", scope));
        }
        match self
            .http
            .post_form_salvaging(&self.endpoints.token, &form, basic)
            .await
        {
            Ok(response) => {
                let mut answer =
                    token::refresh_answer_from(&response, now, self.http.max_response_bytes());
                if let Ok(tokens) = &answer.result
                    && let Some(identity) = &tokens.identity
                    && let Err(error) = self.check_id_token(identity)
                {
                    answer.result = Err(error);
                }
                answer
            }
            Err(error) => token::RefreshAnswer::failed(error),
        }
    }

    /// RFC 7009: asks the provider to revoke `refresh_token` (and with it, for most
    /// providers, the grant). `Ok(false)` when its discovery lists no revocation
    /// endpoint; RFC 7009's 200 (also for a token it no longer knows) is `Ok(true)`.
    pub async fn revoke(&self, refresh_token: &Secret) -> Result<bool, IdentityError> {
        let Some(endpoint) = self.endpoints.revocation.clone() else {
            return Ok(false);
        };
        let mut form = vec![
            ("token", refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
        ];
        let basic = self.with_client_auth(&mut form);
        let response = self.http.post_form(&endpoint, &form, basic).await?;
        if response.is_success() {
            Ok(true)
        } else {
            Err(response.error())
        }
    }

    /// OIDC Core 3.1.3.7: the id_token must come from this provider (`iss`, with
    /// Microsoft's `{tenantid}` template resolved) for this client (`aud`). Its
    /// signature may stay unchecked: it came straight from the token endpoint.
    fn check_id_token(&self, identity: &SignedInIdentity) -> Result<(), IdentityError> {
        if let (Some(expected), Some(actual)) = (&self.endpoints.issuer, &identity.issuer) {
            let expected = match &identity.tid {
                Some(tid) => expected.replace("{tenantid}", tid),
                None => expected.clone(),
            };
            if expected.trim_end_matches('/') != actual.trim_end_matches('/') {
                return Err(IdentityError::admin(format!(
                    "The id_token was issued by {}, not by this data source's provider ({}). Check the issuer URL or tenant of the data source.",
                    crate::text::escape(actual),
                    crate::text::escape(&expected)
                )));
            }
        }
        let client_id = self.config.client_id.trim();
        if !identity.audience.is_empty() && !identity.audience.iter().any(|a| a == client_id) {
            return Err(IdentityError::admin(format!(
                "The id_token was issued for another application ({}), not for client {client_id}. Check the client ID of the data source.",
                crate::text::escape(&identity.audience.join(", "))
            )));
        }
        Ok(())
    }

    /// Names the account that signed in when the id_token does not (see [`naming`]).
    async fn name_account(&self, tokens: &mut TokenSet) {
        let scope = tokens
            .scope
            .clone()
            .unwrap_or_else(|| self.config.scope_string());
        let naming = naming::Naming {
            http: &self.http,
            userinfo: self.endpoints.userinfo.as_ref(),
            graph_root: self.graph_root.as_ref(),
            scope: &scope,
        };
        naming::name_account(&naming, tokens).await;
    }

    async fn token_request(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, IdentityError> {
        let response = self
            .http
            .post_form(&self.endpoints.token, form, basic)
            .await?;
        let tokens = token::token_set_from(&response, now)?;
        if let Some(identity) = &tokens.identity {
            self.check_id_token(identity)?;
        }
        Ok(tokens)
    }
}
