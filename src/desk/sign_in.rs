//! Request a refresh token: the device flow, started and awaited the same way from
//! the window and the CLI. What is stored afterwards goes through
//! [`super::tokens::store_sign_in`] and its account check.

use tokio_util::sync::CancellationToken;
use url::Url;

use crate::clock::{Clock, Sleeper};
use crate::identity::{
    DeviceAuthorization, HttpClient, HttpOptions, IdentityClient, IdentityError, PollEvent,
    ProviderConfig, TokenSet,
};

/// A device-flow sign-in whose code is on its way to the user.
pub struct DeviceSignIn {
    client: IdentityClient,
    pub authorization: DeviceAuthorization,
}

impl DeviceSignIn {
    /// Finds the provider's endpoints and asks for a user code. `graph_root` is the
    /// data source's API root, where Microsoft Graph is asked who signed in when
    /// neither the id_token nor userinfo says.
    pub async fn start(
        config: ProviderConfig,
        graph_root: Option<&Url>,
        clock: &impl Clock,
    ) -> Result<Self, IdentityError> {
        let http = HttpClient::new(&HttpOptions::default())?;
        let client = IdentityClient::connect(http, config)
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
