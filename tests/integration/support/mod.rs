//! Shared test support: the loopback identity provider and small helpers.
//! Each integration test includes this with `mod support;` and uses what it needs.
#![allow(dead_code)]

pub mod provider;

use std::path::PathBuf;

/// A path for a scratch file that disappears with the returned guard.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tokendesk-test-")
        .tempdir()
        .expect("temp dir")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tokendesk"))
}

use provider::{CLIENT_ID, TestProvider};
use tokendesk::identity::{
    Authority, Cloud, HttpClient, HttpOptions, IdentityClient, ProviderConfig, Scopes,
};

/// A Microsoft-style configuration pointed at the loopback provider.
pub fn microsoft_config(provider: &TestProvider, scopes: Scopes) -> ProviderConfig {
    ProviderConfig {
        authority: Authority::Microsoft {
            cloud: Cloud::Global,
            tenant: provider.tenant(),
            login_host: Some(provider.base_url()),
        },
        client_id: CLIENT_ID.into(),
        client_secret: None,
        scopes,
    }
}

pub fn oidc_config(provider: &TestProvider) -> ProviderConfig {
    ProviderConfig {
        authority: Authority::Issuer {
            url: provider.issuer_url(),
        },
        client_id: CLIENT_ID.into(),
        client_secret: None,
        scopes: Scopes::Custom("openid profile email offline_access".into()),
    }
}

/// Short timeouts so the timeout tests finish quickly.
pub fn quick_http() -> HttpClient {
    HttpClient::new(&HttpOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        read_timeout: std::time::Duration::from_millis(800),
        total_timeout: std::time::Duration::from_secs(3),
        max_response_bytes: 256 * 1024,
    })
    .expect("http client")
}

pub async fn connect(config: ProviderConfig) -> IdentityClient {
    IdentityClient::connect(quick_http(), config)
        .await
        .expect("connect to loopback provider")
}
