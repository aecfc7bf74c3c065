//! SMTP submission for devices: EHLO, STARTTLS, AUTH PLAIN or LOGIN with a
//! mailbox and its relay key; then the mailbox's own server, logged in with
//! XOAUTH2, takes the rest of the session (MAIL FROM onwards) as the device
//! sends it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::device::{Conn, LineError, base64_text, sasl_plain};
use super::splice::Bounds;
use super::{Listener, UpstreamTrouble, finish, log_in_upstream, refused_upstream};
use crate::desk::relay::{self, Protocol, Refusal};
use crate::gateway::Gateway;

/// After this many unknown commands or failed logins a device is let go.
const MAX_ERRORS: u32 = 10;
const MAX_FAILED_LOGINS: u32 = 3;
/// A submission session, logged in, may last this long, and idle this long
/// (RFC 5321 asks for 10 minutes for the end of DATA).
const SESSION_TIME: Duration = Duration::from_secs(30 * 60);
const IDLE_TIME: Duration = Duration::from_secs(10 * 60);

pub(super) async fn session(
    gateway: Arc<Gateway>,
    mut conn: Conn,
    from: IpAddr,
    listener: Listener,
) {
    let outcome = pre_login(&gateway, &mut conn, from, &listener).await;
    let bounds = Bounds {
        max_up: listener.max_bytes,
        idle: IDLE_TIME,
        session: SESSION_TIME,
        too_much: "552 5.3.4 The message is larger than this relay passes on\r\n",
    };
    finish(&gateway, conn, from, Protocol::Smtp, outcome, bounds).await;
}

type Outcome = super::Outcome<crate::desk::relay::Session>;

async fn pre_login(
    gateway: &Arc<Gateway>,
    conn: &mut Conn,
    from: IpAddr,
    listener: &Listener,
) -> Outcome {
    let cut = |e: LineError| {
        Outcome::Cut(match e {
            LineError::Closed => "the device closed the connection before logging in".into(),
            LineError::TimedOut => "the device did not log in in time".into(),
            LineError::TooLong => "the device sent an overlong line".into(),
        })
    };
    if let Err(e) = conn.say("220 tokendesk mail relay ESMTP ready\r\n").await {
        return cut(e);
    }
    let mut errors = 0u32;
    let mut failed_logins = 0u32;
    loop {
        let line = match conn.line().await {
            Ok(line) => line,
            Err(e) => {
                let _ = conn
                    .say(match e {
                        LineError::TooLong => "500 5.5.6 Line too long\r\n",
                        _ => "421 4.4.2 Timeout: log in sooner\r\n",
                    })
                    .await;
                return cut(e);
            }
        };
        let text = String::from_utf8_lossy(&line);
        let (verb, rest) = text.split_once(' ').unwrap_or((&text, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => ehlo(conn, listener),
            "HELO" => "250 tokendesk\r\n".to_string(),
            "NOOP" | "RSET" => "250 2.0.0 OK\r\n".into(),
            "QUIT" => {
                let _ = conn.say("221 2.0.0 Bye\r\n").await;
                return Outcome::Quit;
            }
            "STARTTLS" if conn.can_start_tls() => {
                if conn.has_unread() {
                    // Commands pipelined ahead of the handshake could be a man in
                    // the middle's: the session ends.
                    let _ = conn
                        .say("554 5.5.1 Nothing may follow STARTTLS before the handshake\r\n")
                        .await;
                    return Outcome::Cut(
                        "the device sent commands ahead of the TLS handshake".into(),
                    );
                }
                if let Err(e) = conn.say("220 2.0.0 Ready to start TLS\r\n").await {
                    return cut(e);
                }
                if let Err(e) = conn.start_tls().await {
                    return cut(e);
                }
                continue;
            }
            "STARTTLS" => "502 5.5.1 TLS is not offered here\r\n".into(),
            "AUTH" if !conn.may_take_password() => {
                "538 5.7.11 Encryption required: send STARTTLS first\r\n".into()
            }
            "AUTH" => {
                let (user, password) = match credentials(conn, rest).await {
                    Ok(Some(pair)) => pair,
                    Ok(None) => {
                        errors += 1;
                        if errors >= MAX_ERRORS {
                            return too_many(conn, "errors").await;
                        }
                        continue;
                    }
                    Err(e) => return cut(e),
                };
                match log_in(gateway, conn, from, &user, &password).await {
                    Ok(outcome) => return outcome,
                    Err(Some(reply)) => {
                        failed_logins += 1;
                        if failed_logins >= MAX_FAILED_LOGINS {
                            let _ = conn.say(&reply).await;
                            return Outcome::Cut(format!(
                                "{MAX_FAILED_LOGINS} failed logins (user name '{user}')"
                            ));
                        }
                        reply
                    }
                    Err(None) => return Outcome::Cut("the device went away".into()),
                }
            }
            "MAIL" | "RCPT" | "DATA" | "BDAT" | "VRFY" | "EXPN" => {
                "530 5.7.0 Authentication required\r\n".into()
            }
            _ => {
                errors += 1;
                if errors >= MAX_ERRORS {
                    return too_many(conn, "errors").await;
                }
                "500 5.5.2 Command not recognized\r\n".into()
            }
        };
        if let Err(e) = conn.say(&reply).await {
            return cut(e);
        }
    }
}

async fn too_many(conn: &mut Conn, what: &str) -> Outcome {
    let _ = conn.say("421 4.7.0 Too many errors, closing\r\n").await;
    Outcome::Cut(format!("too many {what}"))
}

fn ehlo(conn: &Conn, listener: &Listener) -> String {
    let mut lines = vec![
        "tokendesk".to_string(),
        format!("SIZE {}", listener.max_bytes),
        "8BITMIME".into(),
        "ENHANCEDSTATUSCODES".into(),
    ];
    if conn.can_start_tls() {
        lines.push("STARTTLS".into());
    }
    if conn.may_take_password() {
        lines.push("AUTH PLAIN LOGIN".into());
    }
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
        .collect()
}

/// The user name and password of an AUTH command (PLAIN or LOGIN, with or
/// without an initial response); `None` after a refusal was said.
async fn credentials(conn: &mut Conn, rest: &str) -> Result<Option<(String, String)>, LineError> {
    let (mechanism, initial) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
    let ask = async |conn: &mut Conn, prompt: &str| -> Result<Option<Vec<u8>>, LineError> {
        conn.say(&format!("334 {prompt}\r\n")).await?;
        let answer = conn.line().await?;
        if answer == b"*" {
            conn.say("501 5.0.0 Authentication canceled\r\n").await?;
            return Ok(None);
        }
        Ok(Some(answer))
    };
    let malformed = "501 5.5.2 Cannot read the credentials\r\n";
    match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => {
            let response = if initial.is_empty() {
                match ask(conn, "").await? {
                    Some(answer) => answer,
                    None => return Ok(None),
                }
            } else {
                initial.as_bytes().to_vec()
            };
            match sasl_plain(&response) {
                Some(pair) => Ok(Some(pair)),
                None => {
                    conn.say(malformed).await?;
                    Ok(None)
                }
            }
        }
        "LOGIN" => {
            let user = if initial.is_empty() {
                match ask(conn, "VXNlcm5hbWU6").await? {
                    Some(answer) => answer,
                    None => return Ok(None),
                }
            } else {
                initial.as_bytes().to_vec()
            };
            let Some(password) = ask(conn, "UGFzc3dvcmQ6").await? else {
                return Ok(None);
            };
            match (base64_text(&user), base64_text(&password)) {
                (Some(user), Some(password)) => Ok(Some((user, password))),
                _ => {
                    conn.say(malformed).await?;
                    Ok(None)
                }
            }
        }
        _ => {
            conn.say("504 5.5.4 Only AUTH PLAIN and AUTH LOGIN are offered\r\n")
                .await?;
            Ok(None)
        }
    }
}

/// The device's login, and the mailbox's upstream login; `Err(Some(reply))`
/// for a refusal said with `reply`, `Err(None)` when the device went away.
async fn log_in(
    gateway: &Arc<Gateway>,
    conn: &mut Conn,
    from: IpAddr,
    user: &str,
    password: &str,
) -> Result<Outcome, Option<String>> {
    let device = match relay::login(&gateway.data(), Protocol::Smtp, user, password) {
        Ok(device) => device,
        Err(Refusal::BadLogin(why)) => {
            tracing::info!(%from, "relay login refused: {why}");
            gateway.bad_key(from).await;
            return Err(Some(
                "535 5.7.8 Authentication credentials invalid\r\n".into(),
            ));
        }
        Err(Refusal::NoUpstream(why)) => {
            return Err(Some(format!("454 4.7.0 {why}\r\n")));
        }
    };
    gateway.good_key(from);
    let login = |token: String| {
        let device = device.clone();
        async move { relay::smtp_upstream(&device, &token).await }
    };
    match log_in_upstream(gateway, &device, login).await {
        Ok((session, note)) => {
            if conn
                .say("235 2.7.0 Authentication successful\r\n")
                .await
                .is_err()
            {
                return Err(None);
            }
            Ok(Outcome::LoggedIn(Box::new((device, session, note))))
        }
        Err(trouble) => {
            let code = match trouble {
                UpstreamTrouble::Down(_) => "454 4.4.1",
                UpstreamTrouble::NoToken(_) | UpstreamTrouble::Refused(_) => "454 4.7.0",
            };
            let why = trouble.reason().replace(['\r', '\n'], " ");
            refused_upstream(gateway, Protocol::Smtp, from, &device, &why);
            Err(Some(format!(
                "{code} The mail server did not let {} in: {why}\r\n",
                device.mailbox
            )))
        }
    }
}
