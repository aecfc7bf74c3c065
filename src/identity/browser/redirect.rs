//! Where the browser comes back to: the redirect URI an admin registered (RFC 8252
//! loopback forms) and the listener that takes the answer for one sign-in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};

use super::super::error::IdentityError;

/// Where the provider sends the browser back: `http://`, a loopback host
/// (`127.0.0.1`, `localhost` or `[::1]`), an optional port and a path sent exactly
/// as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    host: String,
    port: Option<u16>,
    pub(super) path: String,
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
    pub(super) path: String,
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

    pub(super) async fn accept(&self) -> std::io::Result<TcpStream> {
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
}
