//! The one HTTP client tokendesk talks to providers with: rustls with the platform's
//! trust store (so corporate TLS inspection works), the system proxy, timeouts, and
//! a cap on how much a provider may send.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use url::Url;

use super::error::{ErrorKind, IdentityError, ProviderErrorBody, classify};

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    /// Longest silence while waiting for or reading a response.
    pub read_timeout: Duration,
    /// Longest a whole request may take.
    pub total_timeout: Duration,
    pub max_response_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(60),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// How much of a token answer is read to take a rotated refresh token out of it,
/// even when the answer is larger than a provider should ever send.
pub const SALVAGE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpClient {
    /// For plain GETs that carry nothing secret (discovery): follows redirects,
    /// but only to https or loopback addresses.
    inner: reqwest::Client,
    /// For every request that carries a secret (a refresh token, a device code, a
    /// client secret, a bearer token): never follows a redirect, since a 307 would
    /// send the form again to wherever the Location header points.
    credentialed: reqwest::Client,
    max_response_bytes: usize,
}

/// A response read whole, within the size cap.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: Url,
}

pub fn user_agent() -> String {
    format!("tokendesk/{}", env!("CARGO_PKG_VERSION"))
}

/// reqwest is built without a TLS crypto provider so that ring, which builds
/// everywhere tokendesk ships, is the one used.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpClient {
    pub fn new(options: &HttpOptions) -> Result<Self, IdentityError> {
        install_crypto_provider();
        let safe_redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if crate::identity::config::check_endpoint_url(attempt.url()).is_err() {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let tls = super::tls::client_config()
            .map_err(|e| IdentityError::admin(format!("Could not set up HTTPS: {e}")))?;
        let build = |policy: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls.clone())
                .user_agent(user_agent())
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                .timeout(options.total_timeout)
                .redirect(policy)
                .build()
                .map_err(|e| {
                    IdentityError::admin(format!(
                        "Could not set up HTTPS (trust store or proxy settings): {e}"
                    ))
                })
        };
        Ok(HttpClient {
            inner: build(safe_redirects)?,
            credentialed: build(reqwest::redirect::Policy::none())?,
            max_response_bytes: options.max_response_bytes,
        })
    }

    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    pub async fn get(&self, url: &Url) -> Result<HttpResponse, IdentityError> {
        self.send(self.inner.get(url.clone()), url, self.max_response_bytes)
            .await
    }

    pub async fn get_bearer(&self, url: &Url, token: &str) -> Result<HttpResponse, IdentityError> {
        check_secret_destination(url)?;
        let request = self.credentialed.get(url.clone()).bearer_auth(token);
        self.send(request, url, self.max_response_bytes).await
    }

    /// Posts a form; `basic` authenticates the client with HTTP Basic
    /// (`client_secret_basic`) instead of form fields.
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<HttpResponse, IdentityError> {
        check_secret_destination(url)?;
        let request = with_basic(self.credentialed.post(url.clone()).form(form), basic);
        self.send(request, url, self.max_response_bytes).await
    }

    /// [`HttpClient::post_form`] for a refresh: reads up to [`SALVAGE_BYTES`] so a
    /// rotated refresh token can be taken even out of an oversized answer; the
    /// caller refuses the rest of a body over the usual limit.
    pub async fn post_form_salvaging(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<HttpResponse, IdentityError> {
        check_secret_destination(url)?;
        let request = with_basic(self.credentialed.post(url.clone()).form(form), basic);
        self.send(request, url, SALVAGE_BYTES.max(self.max_response_bytes))
            .await
    }

    pub async fn post_body(
        &self,
        url: &Url,
        token: &str,
        content_type: &str,
        body: String,
    ) -> Result<HttpResponse, IdentityError> {
        check_secret_destination(url)?;
        let request = self
            .credentialed
            .post(url.clone())
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        self.send(request, url, self.max_response_bytes).await
    }

    /// Posts JSON that carries its own credential in the URL (a chat webhook):
    /// never redirected, so the body cannot be sent on to another address.
    pub async fn post_json(&self, url: &Url, body: String) -> Result<HttpResponse, IdentityError> {
        check_secret_destination(url)?;
        let request = self
            .credentialed
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(request, url, self.max_response_bytes).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
        max_response_bytes: usize,
    ) -> Result<HttpResponse, IdentityError> {
        let host = url
            .host_str()
            .unwrap_or("the identity provider")
            .to_string();
        let mut response = request.send().await.map_err(|e| network_error(&host, &e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let final_url = response.url().clone();
        if let Some(length) = response.content_length()
            && length > max_response_bytes as u64
        {
            return Err(too_large(&host, max_response_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| network_error(&host, &e))?
        {
            if body.len() + chunk.len() > max_response_bytes {
                return Err(too_large(&host, max_response_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
            url: final_url,
        })
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-urlencoded, then sent as
/// HTTP Basic credentials.
fn with_basic(
    request: reqwest::RequestBuilder,
    basic: Option<(&str, &str)>,
) -> reqwest::RequestBuilder {
    match basic {
        Some((id, secret)) => {
            let encode =
                |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            request.basic_auth(encode(id), Some(encode(secret)))
        }
        None => request,
    }
}

/// Every URL that receives a secret passes the same check as the configured
/// endpoints: https, or plain http on a loopback address only.
fn check_secret_destination(url: &Url) -> Result<(), IdentityError> {
    crate::identity::config::check_endpoint_url(url).map_err(|problem| {
        IdentityError::admin(format!(
            "tokendesk did not send a token to {url}: {problem}"
        ))
    })
}

fn too_large(host: &str, cap: usize) -> IdentityError {
    IdentityError::transient(format!(
        "{host} sent a response larger than {} KiB; tokendesk stopped reading it. Check that the endpoint URL points at the identity provider and not at a proxy page.",
        cap / 1024
    ))
}

fn network_error(host: &str, error: &reqwest::Error) -> IdentityError {
    let what = if error.is_timeout() {
        format!("{host} did not answer in time")
    } else if error.is_connect() {
        format!("Could not connect to {host}")
    } else if error.is_builder() {
        format!("The request to {host} could not be built")
    } else {
        // Resets, half-sent answers and TLS failures all land here.
        format!("The connection to {host} broke off before a complete answer arrived")
    };
    // reqwest's chain holds the useful part (DNS, TLS, refused).
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(err) = source {
        detail = err.to_string();
        source = err.source();
    }
    IdentityError::transient(format!(
        "{what} ({detail}). Check the network, proxy and firewall; tokendesk will try again."
    ))
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn host(&self) -> String {
        self.url
            .host_str()
            .unwrap_or("the identity provider")
            .to_string()
    }

    /// Parses a success body, or says clearly that the provider sent something unreadable.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, IdentityError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            IdentityError::transient(format!(
                "{} sent a {what} that tokendesk could not read ({e}). The provider may be misconfigured or a proxy may have changed the answer.",
                self.host()
            ))
            .with_status(self.status)
        })
    }

    /// The classified error for a non-success answer.
    pub fn error(&self) -> IdentityError {
        let mut error = match serde_json::from_slice::<ProviderErrorBody>(&self.body) {
            Ok(body) if !body.error.is_empty() => classify(&body, Some(self.status)),
            _ => self.status_error(),
        };
        error.http_status = Some(self.status);
        if self.status == 429 || self.status == 503 {
            error.kind = ErrorKind::Transient;
            error.retry_after = retry_after(&self.headers);
        }
        error
    }

    fn status_error(&self) -> IdentityError {
        let host = self.host();
        let status = self.status;
        match status {
            429 => IdentityError::transient(format!(
                "{host} is throttling requests (HTTP 429). tokendesk will wait and try again."
            )),
            500..=599 => IdentityError::transient(format!(
                "{host} had an internal error (HTTP {status}). tokendesk will try again later."
            )),
            300..=399 => IdentityError::admin(format!(
                "{host} answered with a redirect (HTTP {status}) to {}. tokendesk does not follow redirects with credentials, so nothing was sent there; check the endpoint URLs of this data source.",
                self.headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map(crate::text::escape)
                    .unwrap_or_else(|| "an unnamed place".into())
            )),
            404 => IdentityError::admin(format!(
                "{host} has no such endpoint (HTTP 404, {}). Check the authority, tenant or issuer URL.",
                self.url
            )),
            401 | 403 => IdentityError::admin(format!(
                "{host} refused access (HTTP {status}). Check the client ID, secret and permissions."
            )),
            _ => IdentityError::admin(format!(
                "{host} answered HTTP {status} without an OAuth error. Check the endpoint URLs of this data source."
            )),
        }
    }
}

impl IdentityError {
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
