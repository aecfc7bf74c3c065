//! Request a refresh token: the device flow or the browser sign-in, started and
//! awaited the same way from the window and the CLI. What is stored afterwards goes through
//! [`super::tokens::store_sign_in`] and its account check.

use tokio_util::sync::CancellationToken;
use url::Url;

use crate::clock::{Clock, Sleeper};
use crate::identity::browser::{
    AuthorizationRequest, CallbackCheck, LoopbackListener, wait_for_code,
};
pub use crate::identity::browser::{DEFAULT_TIME_LIMIT, PageLanguage, RedirectUri};
use crate::identity::{
    DeviceAuthorization, HttpClient, HttpOptions, IdentityClient, IdentityError, PollEvent,
    ProviderConfig, TokenSet,
};
use crate::vault::Vault;

/// How a refresh token is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Authorization code + PKCE through the system browser (what Microsoft
    /// recommends for desktop apps, and what its device-code block leaves open).
    Browser,
    /// The device code flow: a code entered on another device's browser.
    DeviceCode,
}

impl Method {
    /// The browser on a local desktop; the device code over SSH or without a display.
    pub fn default_here() -> Self {
        if crate::desktop::is_local_desktop() {
            Method::Browser
        } else {
            Method::DeviceCode
        }
    }
}

/// Whether a failed device-code sign-in was blocked by Conditional Access (53003,
/// as Microsoft's "Block device code flow" answers; 53000-53002, policies a device
/// code can never meet): the browser sign-in is the way on.
pub fn blocked_by_policy(error: &IdentityError) -> bool {
    (53000..=53003).any(|code| error.has_code(code))
}

/// A device-flow sign-in whose code is on its way to the user.
pub struct DeviceSignIn {
    client: IdentityClient,
    pub authorization: DeviceAuthorization,
}

/// The provider's client for a sign-in. With the vault at hand, its discovery goes
/// through the vault's cache as a renewal's does, so what the provider listed (its
/// revocation endpoint among it) is known from the sign-in on, not only after the
/// first renewal; without one (the CLI's unstored sign-in), it is asked directly.
async fn client_for(
    vault: Option<&mut Vault>,
    config: ProviderConfig,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<IdentityClient, IdentityError> {
    let http = HttpClient::new(&HttpOptions::default())?;
    match vault {
        Some(vault) => crate::redemption::connect(vault, &http, config, now).await,
        None => IdentityClient::connect(http, config).await,
    }
}

impl DeviceSignIn {
    /// Finds the provider's endpoints and asks for a user code. `graph_root` is the
    /// data source's API root, where Microsoft Graph is asked who signed in when
    /// neither the id_token nor userinfo says.
    pub async fn start(
        vault: Option<&mut Vault>,
        config: ProviderConfig,
        graph_root: Option<&Url>,
        clock: &impl Clock,
    ) -> Result<Self, IdentityError> {
        let client = client_for(vault, config, clock.now())
            .await?
            .with_graph_root(graph_root);
        let authorization = client.start_device_authorization(clock.now()).await?;
        Ok(DeviceSignIn {
            client,
            authorization,
        })
    }

    pub fn provider(&self) -> &ProviderConfig {
        self.client.config()
    }

    /// Polls until the user approved, declined, the code expired or `cancel` fired.
    pub async fn wait<C: Clock, S: Sleeper>(
        &self,
        clock: &C,
        sleeper: &S,
        cancel: &CancellationToken,
        on_event: impl FnMut(PollEvent) + Send,
    ) -> Result<TokenSet, IdentityError> {
        self.client
            .wait_for_device_approval(&self.authorization, clock, sleeper, cancel, on_event)
            .await
    }
}

/// A browser sign-in (authorization code + PKCE) whose listener is waiting on the
/// loopback address; the URL is for the system browser, and shown to copy.
pub struct BrowserSignIn {
    client: IdentityClient,
    request: AuthorizationRequest,
    listener: LoopbackListener,
}

impl BrowserSignIn {
    /// Finds the endpoints, opens the listener (on the redirect URI's port, or a
    /// free one) and builds the authorization URL with the account as a hint.
    pub async fn start(
        vault: Option<&mut Vault>,
        config: ProviderConfig,
        redirect_uri: &RedirectUri,
        login_hint: &str,
        graph_root: Option<&Url>,
    ) -> Result<Self, IdentityError> {
        let client = client_for(vault, config, chrono::Utc::now())
            .await?
            .with_graph_root(graph_root);
        let listener = LoopbackListener::bind(redirect_uri).await?;
        let request = client.authorization_request(&listener.redirect_uri, Some(login_hint))?;
        Ok(BrowserSignIn {
            client,
            request,
            listener,
        })
    }

    /// The page to open in the browser.
    pub fn url(&self) -> &Url {
        &self.request.url
    }

    /// Waits for the browser's answer (at most `limit`, or until `cancel`), then
    /// redeems the code. Nothing is stored here; the caller stores through
    /// [`super::tokens::store_sign_in`] and its account check.
    pub async fn finish(
        self,
        language: PageLanguage,
        cancel: &CancellationToken,
        limit: std::time::Duration,
        clock: &impl Clock,
    ) -> Result<TokenSet, IdentityError> {
        let endpoints = self.client.endpoints();
        let check = CallbackCheck {
            state: &self.request.state,
            issuer: endpoints.issuer.as_deref(),
            iss_required: endpoints.iss_parameter_supported,
        };
        let code = wait_for_code(self.listener, &check, language, cancel, limit).await?;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(IdentityError::cancelled()),
            tokens = self.client.redeem_code(&self.request, &code, clock.now()) => tokens,
        }
    }
}

/// The redirect URI a data source uses: its own, or the default for its provider.
pub fn redirect_uri_for(
    config: &ProviderConfig,
    configured: Option<&str>,
) -> Result<RedirectUri, IdentityError> {
    match configured.map(str::trim).filter(|u| !u.is_empty()) {
        Some(text) => RedirectUri::parse(text).map_err(IdentityError::admin),
        None if config.authority.is_microsoft() => Ok(RedirectUri::microsoft_default()),
        None => Ok(RedirectUri::loopback_default()),
    }
}
