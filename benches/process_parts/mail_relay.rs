//! The mail relay against a direct connection, in the same run, on loopback: an
//! SMTP submission sink written here (STARTTLS with its own certificate, any
//! XOAUTH2 token taken, messages read to the final dot and dropped) is the mail
//! server; the client below speaks to it directly (STARTTLS + XOAUTH2, as a mail
//! client that knows OAuth does), or to `tokendesk serve --smtp` with AUTH PLAIN
//! and a relay key, as a printer does.
//!
//! Rows: the time from connecting to "235 authenticated" (the relay's extra is
//! its upstream login, with the mailbox's token from memory); the time to submit
//! one large message and its throughput against the direct one; the gateway's
//! resident set with 200 device sessions logged in and open, over the idle
//! gateway.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support::provider::TestProvider;
use super::{PASSPHRASE, Row, median, ms, tokendesk, vm_rss_kib};
use tokendesk::Secret;
use tokendesk::vault::KeySource;
use tokendesk::vault::crypto::KdfParams;

/// Reads one reply (all its lines) and returns its code.
async fn reply<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> u16 {
    loop {
        while let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..end + 2).collect();
            if line.get(3) != Some(&b'-') {
                return std::str::from_utf8(&line[..3])
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    line: &str,
    want: u16,
) {
    stream
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    let code = reply(stream, buf).await;
    assert_eq!(code, want, "{line}");
}

// ---- the sink: a mail server that takes everything -------------------------

async fn sink_line<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..end + 2).collect();
            return Some(line[..end].to_vec());
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// After STARTTLS (or before it), one SMTP session's commands.
async fn sink_session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    tls_offered: bool,
) -> Option<bool> {
    loop {
        let line = sink_line(stream, buf).await?;
        let upper = String::from_utf8_lossy(&line).to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") {
            if tls_offered {
                b"250-sink\r\n250-STARTTLS\r\n250 SIZE 104857600\r\n"
            } else {
                b"250-sink\r\n250-AUTH XOAUTH2\r\n250 SIZE 104857600\r\n"
            }
        } else if upper.starts_with("STARTTLS") {
            stream.write_all(b"220 go\r\n").await.ok()?;
            return Some(true);
        } else if upper.starts_with("AUTH XOAUTH2") {
            b"235 2.7.0 ok\r\n"
        } else if upper.starts_with("DATA") {
            stream.write_all(b"354 go\r\n").await.ok()?;
            // To the final dot, without keeping the message.
            loop {
                if let Some(end) = buf.windows(5).position(|w| w == b"\r\n.\r\n") {
                    buf.drain(..end + 5);
                    break;
                }
                let keep = buf.len().saturating_sub(4);
                buf.drain(..keep);
                let mut chunk = vec![0u8; 64 * 1024];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            b"250 2.0.0 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = stream.write_all(b"221 bye\r\n").await;
            return Some(false);
        } else {
            b"250 2.0.0 ok\r\n"
        };
        stream.write_all(answer).await.ok()?;
        stream.flush().await.ok()?;
    }
}

async fn sink(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            tcp.write_all(b"220 sink ESMTP\r\n").await.ok()?;
            let mut buf = Vec::new();
            if sink_session(&mut tcp, &mut buf, true).await? {
                let mut tls = acceptor.accept(tcp).await.ok()?;
                let mut buf = Vec::new();
                sink_session(&mut tls, &mut buf, false).await?;
            }
            Some(())
        });
    }
}

// ---- the two clients ------------------------------------------------------

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

enum Client {
    Direct(Box<Tls>),
    Relay(TcpStream),
}

/// Connects and authenticates; returns the session and the time it took.
async fn connect_direct(port: u16, config: Arc<rustls::ClientConfig>) -> (Client, Vec<u8>) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("sink");
    let _ = tcp.set_nodelay(true);
    let mut buf = Vec::new();
    assert_eq!(reply(&mut tcp, &mut buf).await, 220);
    command(&mut tcp, &mut buf, "EHLO bench", 250).await;
    command(&mut tcp, &mut buf, "STARTTLS", 220).await;
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("tls");
    command(&mut tls, &mut buf, "EHLO bench", 250).await;
    let xoauth2 = base64::engine::general_purpose::STANDARD
        .encode("user=sales@contoso.com\x01auth=Bearer token-from-elsewhere\x01\x01");
    command(&mut tls, &mut buf, &format!("AUTH XOAUTH2 {xoauth2}"), 235).await;
    (Client::Direct(Box::new(tls)), buf)
}

async fn connect_relay(port: u16, key: &str) -> (Client, Vec<u8>) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("relay");
    let _ = tcp.set_nodelay(true);
    let mut buf = Vec::new();
    assert_eq!(reply(&mut tcp, &mut buf).await, 220);
    command(&mut tcp, &mut buf, "EHLO printer", 250).await;
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0sales@contoso.com\0{key}"));
    command(&mut tcp, &mut buf, &format!("AUTH PLAIN {plain}"), 235).await;
    (Client::Relay(tcp), buf)
}

async fn submit<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, buf: &mut Vec<u8>, body: &[u8]) {
    command(stream, buf, "MAIL FROM:<sales@contoso.com>", 250).await;
    command(stream, buf, "RCPT TO:<sales@contoso.com>", 250).await;
    command(stream, buf, "DATA", 354).await;
    stream.write_all(body).await.expect("body");
    stream.flush().await.expect("flush");
    command(stream, buf, ".", 250).await;
}

impl Client {
    async fn submit(&mut self, buf: &mut Vec<u8>, body: &[u8]) {
        match self {
            Client::Direct(tls) => submit(tls.as_mut(), buf, body).await,
            Client::Relay(tcp) => submit(tcp, buf, body).await,
        }
    }
}

/// A message of `size` bytes: headers, then 76-character lines (no line is
/// a lone dot).
fn message(size: usize) -> Vec<u8> {
    let mut body = b"Subject: scan\r\n\r\n".to_vec();
    let line = [b"x".repeat(76), b"\r\n".to_vec()].concat();
    while body.len() < size {
        body.extend_from_slice(&line);
    }
    body
}

pub fn rows(rows: &mut Vec<Row>, measuring: bool) {
    let (runs, size, sessions) = if measuring {
        (21, 10 * 1024 * 1024, 200)
    } else {
        (3, 1024 * 1024, 20)
    };
    tokendesk::identity::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate");
    let cert_pem = certified.cert.pem();
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("cert")],
        PrivateKeyDer::from_pem_slice(certified.signing_key.serialize_pem().as_bytes())
            .expect("key"),
    )
    .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("cert"))
        .expect("root");
    let client_config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let sink_port = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("sink");
        let port = listener.local_addr().expect("port").port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        tokio::spawn(sink(listener, acceptor));
        port
    });

    // The vault: the data source's mailbox signed in, its mail server the sink.
    let provider = TestProvider::microsoft();
    let home = super::support::temp_dir();
    let keys = KeySource::native()
        .with_passphrase(Secret::new(PASSPHRASE))
        .with_kdf(KdfParams::with_cost(1024, 1, 1));
    drop(super::support::vault_with_mappings(
        &provider,
        home.path(),
        &keys,
        0,
        Utc::now(),
    ));
    std::fs::write(home.path().join("sink.pem"), &cert_pem).expect("ca");
    let sink_address = format!("127.0.0.1:{sink_port}");
    let ca = home.path().join("sink.pem");
    let set = tokendesk(
        home.path(),
        &[
            "data-source",
            "set",
            "Exchange",
            "--smtp-upstream",
            &sink_address,
            "--upstream-ca",
            ca.to_str().expect("path"),
        ],
    )
    .output()
    .expect("data-source set");
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let added = tokendesk(
        home.path(),
        &[
            "consumer",
            "add",
            "printer",
            "--data-source",
            "Exchange",
            "--relay",
        ],
    )
    .output()
    .expect("consumer add");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let key = String::from_utf8_lossy(&added.stdout).trim().to_string();
    let relay_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let (mut gateway, _base) = super::gateway_process::start_with(
        home.path(),
        &["--smtp", &format!("127.0.0.1:{relay_port}")],
    );

    runtime.block_on(async {
        // The first login fetches the SMTP token; after it, from memory.
        let (mut warm, mut buf) = connect_relay(relay_port, &key).await;
        warm.submit(&mut buf, b"Subject: warm\r\n\r\nhi\r\n").await;
        drop(warm);

        let mut direct_auth = Vec::new();
        let mut relay_auth = Vec::new();
        let mut direct_send = Vec::new();
        let mut relay_send = Vec::new();
        let body = message(size);
        for _ in 0..runs {
            let started = Instant::now();
            let (mut direct, mut buf) = connect_direct(sink_port, client_config.clone()).await;
            direct_auth.push(started.elapsed());
            let started = Instant::now();
            direct.submit(&mut buf, &body).await;
            direct_send.push(started.elapsed());

            let started = Instant::now();
            let (mut relayed, mut buf) = connect_relay(relay_port, &key).await;
            relay_auth.push(started.elapsed());
            let started = Instant::now();
            relayed.submit(&mut buf, &body).await;
            relay_send.push(started.elapsed());
        }
        let (direct_auth, relay_auth) = (median(direct_auth), median(relay_auth));
        let added = relay_auth.saturating_sub(direct_auth);
        rows.push(Row {
            what: format!(
                "relay: connect to 235 (AUTH PLAIN, token from memory) vs direct STARTTLS + XOAUTH2 ({} vs {})",
                ms(relay_auth),
                ms(direct_auth)
            ),
            result: format!("+{}", ms(added)),
            target: "≤ +5 ms",
        });
        let (direct_send, relay_send) = (median(direct_send), median(relay_send));
        let mib = body.len() as f64 / 1024.0 / 1024.0;
        let throughput = |d: Duration| mib / d.as_secs_f64();
        rows.push(Row {
            what: format!(
                "relay: {mib:.0} MiB message, relay vs direct ({:.0} vs {:.0} MiB/s)",
                throughput(relay_send),
                throughput(direct_send)
            ),
            result: format!(
                "{:.0} %",
                100.0 * direct_send.as_secs_f64() / relay_send.as_secs_f64()
            ),
            target: "≥ 80 %",
        });

        // Memory: the idle gateway, then with `sessions` devices logged in.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = vm_rss_kib(gateway.id()).unwrap_or(0);
        let mut open = Vec::new();
        for _ in 0..sessions {
            open.push(connect_relay(relay_port, &key).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = vm_rss_kib(gateway.id()).unwrap_or(0);
        rows.push(Row {
            what: format!(
                "relay: gateway RSS with {sessions} device sessions logged in, over idle ({:.1} → {:.1} MiB)",
                idle as f64 / 1024.0,
                busy as f64 / 1024.0
            ),
            result: format!("+{:.1} MiB", (busy - idle) as f64 / 1024.0),
            target: "≤ +30 MB",
        });
        drop(open);
    });
    let _ = gateway.kill();
    let _ = gateway.wait();
}
