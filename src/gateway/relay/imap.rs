//! IMAP for devices: CAPABILITY, STARTTLS, LOGIN or AUTHENTICATE PLAIN with a
//! mailbox and its relay key; then the mailbox's own server, logged in with
//! XOAUTH2, takes the rest of the session as the device sends it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::device::{Conn, LineError, sasl_plain};
use super::splice::Bounds;
use super::{Listener, finish, log_in_upstream, refused_upstream};
use crate::desk::relay::{self, LoggedIn, Protocol, Refusal};
use crate::gateway::Gateway;

const MAX_ERRORS: u32 = 10;
const MAX_FAILED_LOGINS: u32 = 3;
/// A literal in a login is a user name or a password, never more.
const MAX_LITERAL: usize = 8 * 1024;
/// A logged-in IMAP session may last this long, and idle a little longer than
/// the 29 minutes of an IDLE command (RFC 2177).
const SESSION_TIME: Duration = Duration::from_secs(4 * 3600);
const IDLE_TIME: Duration = Duration::from_secs(31 * 60);

pub(super) async fn session(
    gateway: Arc<Gateway>,
    mut conn: Conn,
    from: IpAddr,
    listener: Listener,
) {
    let outcome = match pre_login(&gateway, &mut conn, from).await {
        Outcome::Quit => super::Outcome::Quit,
        Outcome::Cut(why) => super::Outcome::Cut(why),
        Outcome::LoggedIn(logged_in) => {
            let (device, upstream, note) = *logged_in;
            super::Outcome::LoggedIn(Box::new((device, upstream.session, note)))
        }
    };
    let bounds = Bounds {
        max_up: listener.max_bytes,
        idle: IDLE_TIME,
        session: SESSION_TIME,
        too_much: "* BYE The device sent more than this relay passes on\r\n",
    };
    finish(&gateway, conn, from, Protocol::Imap, outcome, bounds).await;
}

type Outcome = super::Outcome<LoggedIn>;

fn capabilities(conn: &Conn) -> String {
    let mut caps = vec!["IMAP4rev1", "SASL-IR"];
    if conn.can_start_tls() {
        caps.push("STARTTLS");
    }
    caps.push(if conn.may_take_password() {
        "AUTH=PLAIN"
    } else {
        "LOGINDISABLED"
    });
    caps.join(" ")
}

async fn pre_login(gateway: &Arc<Gateway>, conn: &mut Conn, from: IpAddr) -> Outcome {
    let cut = |e: LineError| {
        Outcome::Cut(match e {
            LineError::Closed => "the device closed the connection before logging in".into(),
            LineError::TimedOut => "the device did not log in in time".into(),
            LineError::TooLong => "the device sent an overlong line".into(),
        })
    };
    let greeting = format!(
        "* OK [CAPABILITY {}] tokendesk mail relay ready\r\n",
        capabilities(conn)
    );
    if let Err(e) = conn.say(&greeting).await {
        return cut(e);
    }
    let mut errors = 0u32;
    let mut failed_logins = 0u32;
    loop {
        let line = match conn.line().await {
            Ok(line) => line,
            Err(e) => {
                let _ = conn
                    .say("* BYE Log in sooner, with shorter lines\r\n")
                    .await;
                return cut(e);
            }
        };
        let text = String::from_utf8_lossy(&line).into_owned();
        let mut words = text.splitn(3, ' ');
        let tag = words.next().unwrap_or_default().to_string();
        let command = words.next().unwrap_or_default().to_ascii_uppercase();
        let rest = words.next().unwrap_or_default().to_string();
        if tag.is_empty() || command.is_empty() || tag.contains(['*', '+', '"', '{']) {
            errors += 1;
            if errors >= MAX_ERRORS {
                let _ = conn.say("* BYE Too many errors\r\n").await;
                return Outcome::Cut("too many errors".into());
            }
            if let Err(e) = conn.say("* BAD Not an IMAP command\r\n").await {
                return cut(e);
            }
            continue;
        }
        let reply = match command.as_str() {
            "CAPABILITY" => format!(
                "* CAPABILITY {}\r\n{tag} OK CAPABILITY completed\r\n",
                capabilities(conn)
            ),
            "NOOP" => format!("{tag} OK NOOP completed\r\n"),
            "LOGOUT" => {
                let _ = conn
                    .say(&format!(
                        "* BYE Logging out\r\n{tag} OK LOGOUT completed\r\n"
                    ))
                    .await;
                return Outcome::Quit;
            }
            "STARTTLS" if conn.can_start_tls() => {
                if conn.has_unread() {
                    let _ = conn
                        .say(&format!(
                            "{tag} BAD Nothing may follow STARTTLS before the handshake\r\n"
                        ))
                        .await;
                    return Outcome::Cut(
                        "the device sent commands ahead of the TLS handshake".into(),
                    );
                }
                if let Err(e) = conn
                    .say(&format!("{tag} OK Begin TLS negotiation now\r\n"))
                    .await
                {
                    return cut(e);
                }
                if let Err(e) = conn.start_tls().await {
                    return cut(e);
                }
                continue;
            }
            "STARTTLS" => format!("{tag} BAD TLS is not offered here\r\n"),
            "LOGIN" | "AUTHENTICATE" if !conn.may_take_password() => {
                format!("{tag} NO [PRIVACYREQUIRED] Send STARTTLS first\r\n")
            }
            "LOGIN" | "AUTHENTICATE" => {
                let credentials = if command == "LOGIN" {
                    login_arguments(conn, &rest).await
                } else {
                    authenticate_plain(conn, &rest).await
                };
                let (user, password) = match credentials {
                    Ok(Some(pair)) => pair,
                    Ok(None) => {
                        if let Err(e) = conn
                            .say(&format!("{tag} BAD Cannot read the credentials\r\n"))
                            .await
                        {
                            return cut(e);
                        }
                        continue;
                    }
                    Err(e) => return cut(e),
                };
                match log_in(gateway, conn, from, &tag, &user, &password).await {
                    Ok(outcome) => return outcome,
                    Err(Some(reply)) => {
                        failed_logins += 1;
                        if failed_logins >= MAX_FAILED_LOGINS {
                            let _ = conn
                                .say(&format!("{reply}* BYE Too many failed logins\r\n"))
                                .await;
                            return Outcome::Cut(format!(
                                "{MAX_FAILED_LOGINS} failed logins (user name '{user}')"
                            ));
                        }
                        reply
                    }
                    Err(None) => return Outcome::Cut("the device went away".into()),
                }
            }
            _ => format!("{tag} NO Log in first\r\n"),
        };
        if let Err(e) = conn.say(&reply).await {
            return cut(e);
        }
    }
}

/// LOGIN's two arguments: atoms, quoted strings or literals (`{n}` answered
/// with a continuation, `{n+}` not).
async fn login_arguments(
    conn: &mut Conn,
    rest: &str,
) -> Result<Option<(String, String)>, LineError> {
    let mut line = rest.as_bytes().to_vec();
    let mut arguments: Vec<Vec<u8>> = Vec::new();
    while arguments.len() < 2 {
        let trimmed = line.trim_ascii_start().to_vec();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed[0] == b'"' {
            let mut value = Vec::new();
            let mut i = 1;
            loop {
                match trimmed.get(i) {
                    None => return Ok(None),
                    Some(b'\\') => {
                        let Some(c) = trimmed.get(i + 1) else {
                            return Ok(None);
                        };
                        value.push(*c);
                        i += 2;
                    }
                    Some(b'"') => break,
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            arguments.push(value);
            line = trimmed[i + 1..].to_vec();
        } else if trimmed[0] == b'{' && trimmed.last() == Some(&b'}') {
            let inner = &trimmed[1..trimmed.len() - 1];
            let (digits, synchronizing) = match inner.strip_suffix(b"+") {
                Some(digits) => (digits, false),
                None => (inner, true),
            };
            let Some(n) = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<usize>().ok())
            else {
                return Ok(None);
            };
            if n > MAX_LITERAL {
                return Ok(None);
            }
            if synchronizing {
                conn.say("+ Ready for literal data\r\n").await?;
            }
            arguments.push(conn.bytes(n).await?);
            line = conn.line().await?;
        } else {
            let end = trimmed
                .iter()
                .position(|b| *b == b' ')
                .unwrap_or(trimmed.len());
            arguments.push(trimmed[..end].to_vec());
            line = trimmed[end..].to_vec();
        }
    }
    if !line.trim_ascii().is_empty() {
        return Ok(None);
    }
    let text = |v: &Vec<u8>| String::from_utf8(v.clone()).ok();
    Ok(text(&arguments[0]).zip(text(&arguments[1])))
}

/// AUTHENTICATE PLAIN, with the initial response or after a continuation.
async fn authenticate_plain(
    conn: &mut Conn,
    rest: &str,
) -> Result<Option<(String, String)>, LineError> {
    let (mechanism, initial) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
    if !mechanism.eq_ignore_ascii_case("PLAIN") {
        return Ok(None);
    }
    let response = if initial.is_empty() {
        conn.say("+ \r\n").await?;
        conn.line().await?
    } else {
        initial.as_bytes().to_vec()
    };
    Ok(sasl_plain(&response))
}

/// The device's login, and the mailbox's upstream login; `Err(Some(reply))`
/// for a refusal said with `reply`, `Err(None)` when the device went away.
async fn log_in(
    gateway: &Arc<Gateway>,
    conn: &mut Conn,
    from: IpAddr,
    tag: &str,
    user: &str,
    password: &str,
) -> Result<Outcome, Option<String>> {
    let device = match relay::login(&gateway.data(), Protocol::Imap, user, password) {
        Ok(device) => device,
        Err(Refusal::BadLogin(why)) => {
            tracing::info!(%from, "relay login refused: {why}");
            gateway.bad_key(from).await;
            return Err(Some(format!(
                "{tag} NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
            )));
        }
        Err(Refusal::NoUpstream(why)) => {
            return Err(Some(format!("{tag} NO [UNAVAILABLE] {why}\r\n")));
        }
    };
    gateway.good_key(from);
    let login = |token: String| {
        let device = device.clone();
        async move { relay::imap_upstream(&device, &token).await }
    };
    match log_in_upstream(gateway, &device, login).await {
        Ok((upstream, note)) => {
            // The server's own OK, with the capabilities the session has now.
            if conn
                .say(&format!("{tag} {}\r\n", upstream.ok_text))
                .await
                .is_err()
            {
                return Err(None);
            }
            Ok(Outcome::LoggedIn(Box::new((device, upstream, note))))
        }
        Err(trouble) => {
            let why = trouble.reason().replace(['\r', '\n'], " ");
            refused_upstream(gateway, Protocol::Imap, from, &device, &why);
            Err(Some(format!(
                "{tag} NO [UNAVAILABLE] The mail server did not let {} in: {why}\r\n",
                device.mailbox
            )))
        }
    }
}
