//! The browser's answer at the loopback listener: exactly one valid answer is taken
//! — the right `state`, the provider's `iss` where it sends one (RFC 9207), a code —
//! and the browser gets a page in the admin's language either way.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::super::error::{ErrorKind, IdentityError, ProviderErrorBody, classify};
use super::redirect::LoopbackListener;

/// A browser sends its request at once; a connection that does not is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Far more than any redirect with a code, state and iss.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;

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
