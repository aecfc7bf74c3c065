//! The browser sign-in of a native app (RFC 8252): authorization code with PKCE
//! (RFC 7636, S256) through the system browser, the answer caught by a listener on
//! the loopback address that accepts exactly one valid answer — the right `state`,
//! the provider's `iss` where it sends one (RFC 9207), a `code` — and then closes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::error::{ErrorKind, IdentityError, ProviderErrorBody, classify};
use crate::secret::Secret;

/// How long the admin has to finish in the browser unless told otherwise.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);
/// A browser sends its request at once; a connection that does not is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Far more than any redirect with a code, state and iss.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// Where the provider sends the browser back: `http://`, a loopback host
/// (`127.0.0.1`, `localhost` or `[::1]`), an optional port and a path sent exactly
/// as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    host: String,
    port: Option<u16>,
    path: String,
}

impl RedirectUri {
    /// Microsoft's registration for desktop apps: `http://localhost` (Microsoft
    /// ignores the port for localhost).
    pub fn microsoft_default() -> Self {
        RedirectUri {
            host: "localhost".into(),
            port: None,
            path: String::new(),
        }
    }

    /// RFC 8252's recommendation for any other provider: the IPv4 literal.
    pub fn loopback_default() -> Self {
        RedirectUri {
            host: "127.0.0.1".into(),
            port: None,
            path: String::new(),
        }
    }

    /// Reads a redirect URI an admin typed; says what is wrong in a sentence.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let problem = |why: &str| {
            format!(
                "The redirect URI '{text}' {why}: use http://127.0.0.1[:port]/path or http://localhost[:port]/path."
            )
        };
        let rest = match text.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &text[7..],
            _ => return Err(problem("is not an http:// loopback address")),
        };
        if rest.contains(['?', '#']) {
            return Err(problem("has a query or fragment"));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (inside, after) = v6
                .split_once(']')
                .ok_or_else(|| problem("has an unclosed [ in its host"))?;
            (format!("[{inside}]"), after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
                None => (authority.to_ascii_lowercase(), None),
            }
        };
        if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]") {
            return Err(problem("is not on this machine's loopback address"));
        }
        let port = match port {
            None | Some("") => None,
            Some(port) => match port.parse::<u16>() {
                Ok(0) | Err(_) => return Err(problem("has an invalid port")),
                Ok(port) => Some(port),
            },
        };
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(problem("has spaces in its path"));
        }
        Ok(RedirectUri {
            host,
            port,
            path: path.to_string(),
        })
    }

    /// The URI as sent to the provider, with the port the listener got.
    pub fn with_port(&self, port: u16) -> String {
        format!("http://{}:{port}{}", self.host, self.path)
    }

    /// The path the browser will request.
    fn request_path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }
}

impl std::fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "http://{}:{port}{}", self.host, self.path),
            None => write!(f, "http://{}{}", self.host, self.path),
        }
    }
}

/// The listener for one sign-in: on 127.0.0.1 (and `[::1]` where the redirect
/// URI says localhost, as a browser may resolve it either way).
pub struct LoopbackListener {
    sockets: Vec<TcpListener>,
    /// The redirect URI with the port filled in, exactly as sent to the provider.
    pub redirect_uri: String,
    path: String,
}

impl LoopbackListener {
    pub async fn bind(uri: &RedirectUri) -> Result<Self, IdentityError> {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let wanted = uri.port.unwrap_or(0);
        let in_use = |address: IpAddr, e: std::io::Error| {
            IdentityError::admin(format!(
                "tokendesk could not listen on {address} port {wanted} for the browser's answer ({e}). Another program may use that port: change the port of the redirect URI, or leave it out so that a free one is taken."
            ))
        };
        let first = match uri.host.as_str() {
            "[::1]" => TcpListener::bind(SocketAddr::new(v6, wanted))
                .await
                .map_err(|e| in_use(v6, e))?,
            "localhost" => match TcpListener::bind(SocketAddr::new(v4, wanted)).await {
                Ok(socket) => socket,
                Err(e) => TcpListener::bind(SocketAddr::new(v6, wanted))
                    .await
                    .map_err(|_| in_use(v4, e))?,
            },
            _ => TcpListener::bind(SocketAddr::new(v4, wanted))
                .await
                .map_err(|e| in_use(v4, e))?,
        };
        let port = first.local_addr().map_err(|e| in_use(v4, e))?.port();
        let mut sockets = vec![first];
        if uri.host == "localhost"
            && let Ok(second) = TcpListener::bind(SocketAddr::new(v6, port)).await
        {
            sockets.push(second);
        }
        Ok(LoopbackListener {
            sockets,
            redirect_uri: uri.with_port(port),
            path: uri.request_path().to_string(),
        })
    }

    async fn accept(&self) -> std::io::Result<TcpStream> {
        match self.sockets.as_slice() {
            [one] => one.accept().await.map(|(stream, _)| stream),
            [one, two, ..] => tokio::select! {
                accepted = one.accept() => accepted.map(|(stream, _)| stream),
                accepted = two.accept() => accepted.map(|(stream, _)| stream),
            },
            [] => std::future::pending().await,
        }
    }
}

/// What the answer must carry to be accepted.
pub struct CallbackCheck<'a> {
    pub state: &'a str,
    /// The discovered issuer; an `iss` in the answer must equal it.
    pub issuer: Option<&'a str>,
    /// The provider advertises RFC 9207: an answer without `iss` is refused.
    pub iss_required: bool,
}

/// The language of the page the browser shows after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageLanguage {
    #[default]
    English,
    German,
}

impl PageLanguage {
    fn text(self, which: Page) -> &'static str {
        match (self, which) {
            (PageLanguage::English, Page::Done) => {
                "You are signed in. tokendesk has the answer; you can close this tab."
            }
            (PageLanguage::German, Page::Done) => {
                "Sie sind angemeldet. tokendesk hat die Antwort; Sie können diesen Tab schließen."
            }
            (PageLanguage::English, Page::Failed) => {
                "The sign-in did not succeed. tokendesk shows why; you can close this tab."
            }
            (PageLanguage::German, Page::Failed) => {
                "Die Anmeldung ist nicht gelungen. tokendesk zeigt den Grund; Sie können diesen Tab schließen."
            }
            (PageLanguage::English, Page::NotOurs) => {
                "This answer does not belong to the sign-in tokendesk is waiting for. tokendesk keeps waiting for the real one."
            }
            (PageLanguage::German, Page::NotOurs) => {
                "Diese Antwort gehört nicht zu der Anmeldung, auf die tokendesk wartet. tokendesk wartet weiter auf die richtige."
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Page {
    Done,
    Failed,
    NotOurs,
}

/// One request to the listener, judged.
enum Verdict {
    /// Not the answer (another path, a forged or wrong call): keep waiting.
    Ignore,
    Code(String),
    Failed(IdentityError),
}

/// Waits for the one valid answer and returns its code; a provider's error answer
/// ends the sign-in with that error. The listener is closed when this returns.
pub async fn wait_for_code(
    listener: LoopbackListener,
    check: &CallbackCheck<'_>,
    language: PageLanguage,
    cancel: &CancellationToken,
    limit: Duration,
) -> Result<String, IdentityError> {
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        let stream = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(IdentityError::cancelled()),
            _ = &mut deadline => return Err(IdentityError::new(
                ErrorKind::Expired,
                format!(
                    "The browser sign-in was not finished within {} seconds. Start it again and finish it in the browser.",
                    limit.as_secs()
                ),
            )),
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(_) => continue,
            },
        };
        let verdict = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(IdentityError::cancelled()),
            verdict = answer(stream, &listener.path, check, language) => verdict,
        };
        match verdict {
            Verdict::Ignore => continue,
            Verdict::Code(code) => return Ok(code),
            Verdict::Failed(error) => return Err(error),
        }
    }
}

/// Reads one request, judges it and answers the browser with a page.
async fn answer(
    mut stream: TcpStream,
    path: &str,
    check: &CallbackCheck<'_>,
    language: PageLanguage,
) -> Verdict {
    let Ok(Some(head)) = tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await else {
        return Verdict::Ignore;
    };
    let (status, page, verdict) = judge(&head, path, check, language);
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>tokendesk</title></head><body style=\"font-family:sans-serif;margin:3em\"><h1>tokendesk</h1><p>{}</p></body></html>",
        html_escape(&page)
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
    verdict
}

/// The request line and headers, or `None` for a connection that sends nothing
/// sensible within the size limit.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 || head.len() + read > MAX_REQUEST_BYTES {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8(head).ok()
}

/// The status line, the page's sentence and the verdict for one request.
fn judge(
    head: &str,
    path: &str,
    check: &CallbackCheck<'_>,
    language: PageLanguage,
) -> (&'static str, String, Verdict) {
    let not_ours = || {
        (
            "400 Bad Request",
            language.text(Page::NotOurs).to_string(),
            Verdict::Ignore,
        )
    };
    let mut words = head.lines().next().unwrap_or("").split(' ');
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return not_ours();
    };
    let (request_path, query) = target.split_once('?').unwrap_or((target, ""));
    if request_path != path {
        return (
            "404 Not Found",
            language.text(Page::NotOurs).into(),
            Verdict::Ignore,
        );
    }
    if method != "GET" {
        return not_ours();
    }
    let mut state = None;
    let mut code = None;
    let mut iss = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "iss" => &mut iss,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        // A repeated parameter is not an answer any provider sends.
        if slot.replace(value.into_owned()).is_some() {
            return not_ours();
        }
    }
    if !state
        .as_deref()
        .is_some_and(|s| constant_time_eq(s, check.state))
    {
        return not_ours();
    }
    match (&iss, check.issuer) {
        (Some(iss), Some(issuer)) if iss.trim_end_matches('/') != issuer.trim_end_matches('/') => {
            return not_ours();
        }
        (None, _) if check.iss_required => return not_ours(),
        _ => {}
    }
    if let Some(error) = error {
        let body = ProviderErrorBody {
            error,
            error_description: description,
            ..Default::default()
        };
        let failure = classify(&body, None);
        let page = format!("{} {}", language.text(Page::Failed), failure.message);
        return ("200 OK", page, Verdict::Failed(failure));
    }
    match code.filter(|c| !c.is_empty()) {
        Some(code) => (
            "200 OK",
            language.text(Page::Done).into(),
            Verdict::Code(code),
        ),
        None => not_ours(),
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A fresh random value for `state`, `nonce` and the PKCE verifier: 32 bytes,
/// base64url (43 characters, RFC 7636's minimum length and alphabet).
pub fn random_value() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// One browser sign-in's request: the URL to open and what the answer and the
/// code redemption must match.
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub verifier: Secret,
    pub redirect_uri: String,
}

/// Builds the authorization URL: PKCE S256, fresh `state` and `nonce`, the
/// configured account as `login_hint`, and the `prompt` the provider needs.
pub fn authorization_request(
    endpoint: &Url,
    client_id: &str,
    scope: &str,
    redirect_uri: &str,
    login_hint: Option<&str>,
    microsoft: bool,
) -> AuthorizationRequest {
    let state = random_value();
    let nonce = random_value();
    let verifier = random_value();
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = login_hint.map(str::trim).filter(|h| !h.is_empty()) {
            query.append_pair("login_hint", hint);
        }
        if microsoft {
            query.append_pair("prompt", "select_account");
        } else if scope.split_whitespace().any(|s| s == "offline_access") {
            // OIDC Core 11: without consent a provider may ignore offline_access
            // and issue no refresh token.
            query.append_pair("prompt", "consent");
        }
    }
    AuthorizationRequest {
        url,
        state,
        nonce,
        verifier: Secret::new(verifier),
        redirect_uri: redirect_uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_loopback_http_with_the_path_kept() {
        let uri = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
        assert_eq!(uri.with_port(5555), "http://127.0.0.1:5555/callback");
        let uri = RedirectUri::parse("HTTP://LocalHost").unwrap();
        assert_eq!(uri.with_port(80), "http://localhost:80");
        assert_eq!(uri.request_path(), "/");
        let uri = RedirectUri::parse("http://[::1]:8400/cb").unwrap();
        assert_eq!(uri.port, Some(8400));
        assert_eq!(uri.to_string(), "http://[::1]:8400/cb");
        for bad in [
            "https://127.0.0.1/",
            "http://example.com/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1/cb?x=1",
            "http://10.0.0.1/",
            "http://127.0.0.1/a b",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let value = random_value();
        assert_eq!(value.len(), 43);
        assert_ne!(value, random_value());
    }

    #[test]
    fn the_request_asks_for_the_right_prompt() {
        let endpoint = Url::parse("https://id.example.test/authorize").unwrap();
        let request = authorization_request(
            &endpoint,
            "app",
            "openid offline_access",
            "http://127.0.0.1:5/cb",
            Some("alice@contoso.test"),
            false,
        );
        let query: std::collections::HashMap<_, _> =
            request.url.query_pairs().into_owned().collect();
        assert_eq!(query["prompt"], "consent");
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(
            query["code_challenge"],
            pkce_challenge(request.verifier.expose())
        );
        assert_eq!(query["login_hint"], "alice@contoso.test");
        assert_eq!(query["redirect_uri"], "http://127.0.0.1:5/cb");
        let microsoft =
            authorization_request(&endpoint, "app", "openid offline_access", "x", None, true);
        assert!(microsoft.url.as_str().contains("prompt=select_account"));
        assert!(!microsoft.url.as_str().contains("login_hint"));
    }

    fn head(target: &str) -> String {
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    }

    #[test]
    fn only_the_valid_answer_is_taken() {
        let check = CallbackCheck {
            state: "s1",
            issuer: Some("https://id.example.test"),
            iss_required: true,
        };
        let lang = PageLanguage::English;
        let verdict = |target: &str| judge(&head(target), "/cb", &check, lang).2;
        assert!(
            matches!(verdict("/cb?state=s1&code=c&iss=https%3A%2F%2Fid.example.test"), Verdict::Code(c) if c == "c")
        );
        assert!(matches!(
            verdict("/cb?state=s2&code=c&iss=https%3A%2F%2Fid.example.test"),
            Verdict::Ignore
        ));
        assert!(
            matches!(verdict("/cb?state=s1&code=c"), Verdict::Ignore),
            "iss required"
        );
        assert!(matches!(
            verdict("/cb?state=s1&code=c&iss=https%3A%2F%2Fevil.test"),
            Verdict::Ignore
        ));
        assert!(
            matches!(
                verdict("/cb?state=s1&iss=https%3A%2F%2Fid.example.test"),
                Verdict::Ignore
            ),
            "no code"
        );
        assert!(matches!(
            verdict("/other?state=s1&code=c&iss=https%3A%2F%2Fid.example.test"),
            Verdict::Ignore
        ));
        assert!(matches!(
            verdict("/cb?state=s1&state=s1&code=c&iss=https%3A%2F%2Fid.example.test"),
            Verdict::Ignore
        ));
        match verdict("/cb?state=s1&error=access_denied&iss=https%3A%2F%2Fid.example.test") {
            Verdict::Failed(error) => assert_eq!(error.kind, ErrorKind::Declined),
            _ => panic!("access_denied ends the sign-in"),
        }
        let (_, page, _) = judge(
            &head(
                "/cb?state=s1&error=x&error_description=%3Cscript%3E&iss=https%3A%2F%2Fid.example.test",
            ),
            "/cb",
            &check,
            PageLanguage::German,
        );
        assert!(
            page.starts_with("Die Anmeldung ist nicht gelungen"),
            "{page}"
        );
        assert!(!html_escape(&page).contains("<script>"));
    }
}
