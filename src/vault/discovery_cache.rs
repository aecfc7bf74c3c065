//! Each provider's discovery document, kept in the vault with the time it was
//! fetched: every process that renews a token reuses it for a day instead of asking
//! the provider first, so a renewal is one round trip. A token endpoint that answers
//! 404 throws the entry away.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::model::VaultData;
use crate::identity::{Endpoints, ProviderConfig};

/// How long a discovered document is used before it is fetched again.
pub const MAX_AGE: Duration = Duration::hours(24);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedDiscovery {
    /// The discovery URL the document came from.
    pub url: String,
    pub endpoints: Endpoints,
    pub fetched_at: DateTime<Utc>,
}

/// The key of a provider configuration: its discovery URL.
pub fn key(config: &ProviderConfig) -> Option<String> {
    crate::identity::discovery::discovery_url(&config.authority)
        .ok()
        .map(|url| url.to_string())
}

impl VaultData {
    /// The cached endpoints of this provider, when younger than [`MAX_AGE`] and
    /// really discovered (not Microsoft's fallback paths).
    pub fn cached_endpoints(
        &self,
        config: &ProviderConfig,
        now: DateTime<Utc>,
    ) -> Option<Endpoints> {
        let key = key(config)?;
        self.discovery
            .iter()
            .find(|c| c.url == key)
            .filter(|c| now - c.fetched_at < MAX_AGE && c.fetched_at <= now)
            .map(|c| c.endpoints.clone())
    }

    /// This provider's endpoints as last discovered, however long ago: what it
    /// offers (a revocation endpoint) rarely changes, and is confirmed when used.
    pub fn known_endpoints(&self, config: &ProviderConfig) -> Option<&Endpoints> {
        let key = key(config)?;
        self.discovery
            .iter()
            .find(|c| c.url == key)
            .map(|c| &c.endpoints)
    }

    pub fn remember_endpoints(
        &mut self,
        config: &ProviderConfig,
        endpoints: &Endpoints,
        now: DateTime<Utc>,
    ) {
        let Some(key) = key(config) else { return };
        if !endpoints.discovered {
            return;
        }
        self.discovery.retain(|c| c.url != key);
        self.discovery.push(CachedDiscovery {
            url: key,
            endpoints: endpoints.clone(),
            fetched_at: now,
        });
    }

    pub fn forget_endpoints(&mut self, config: &ProviderConfig) {
        if let Some(key) = key(config) {
            self.discovery.retain(|c| c.url != key);
        }
    }
}
