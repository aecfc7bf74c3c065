//! The gateway against clients that hold connections: slowloris headers and silent
//! connections are closed after the header time limit, one address cannot take
//! every slot, running out of file descriptors neither spins the CPU nor stops
//! the connections already open, and SIGTERM ends it within seconds even with a
//! half-sent request open. A legitimate client from another address is served
//! throughout.

#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::gateway::{
    address, consumer, cpu_time, get, runtime, serve_configured, setup, terminate,
};

/// A connection from `from` (any 127.x address is this machine) that sends the
/// start of a request and then nothing more.
async fn slow_client(from: &str, to: SocketAddr) -> Option<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(format!("{from}:0").parse().ok()?).ok()?;
    let mut stream = tokio::time::timeout(Duration::from_secs(2), socket.connect(to))
        .await
        .ok()?
        .ok()?;
    let _ = stream
        .write_all(b"GET /v1/token?data_source=A HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
        .await;
    Some(stream)
}

/// Whether the gateway closed `stream` (EOF or reset) within `limit`, after any
/// answer it sent.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buffer = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// The slowest of `count` requests from a kept-alive client, one every 50 ms.
async fn slowest_answer(client: &reqwest::Client, url: &str, key: &str, count: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..count {
        let started = Instant::now();
        let (status, body) = get(client, url, Some(key)).await;
        assert_eq!(status, 200, "{body}");
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    slowest
}

#[test]
fn slow_and_silent_connections_are_closed_and_sigterm_is_honoured() {
    let (_provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let mut served = serve_configured(
        home.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--keepalive-every",
            "3600",
            "--header-timeout",
            "2",
            "--max-connections-per-address",
            "200",
        ],
        |_| {},
    );
    let to = address(&served);
    let pid = served.child.id();
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{}/v1/token?data_source=A", served.base);
        slowest_answer(&client, &url, &key, 1).await;
        // 300 slowloris connections from one address: 200 held, 100 refused.
        let mut slow = Vec::new();
        for _ in 0..300 {
            if let Some(stream) = slow_client("127.0.0.2", to).await {
                slow.push(stream);
            }
        }
        assert_eq!(slow.len(), 300);
        let cpu_before = cpu_time(pid);
        let held_since = Instant::now();
        let slowest = slowest_answer(&client, &url, &key, 20).await;
        assert!(
            slowest < Duration::from_millis(500),
            "served throughout: {slowest:?}"
        );
        // Every slow connection is gone soon after the two-second header limit.
        let mut closed = 0;
        for stream in &mut slow {
            let left = Duration::from_secs(4).saturating_sub(held_since.elapsed());
            if closed_within(stream, left.max(Duration::from_millis(10))).await {
                closed += 1;
            }
        }
        assert_eq!(closed, 300, "slowloris connections closed");
        let spent = cpu_time(pid) - cpu_before;
        assert!(
            spent < held_since.elapsed() / 2,
            "no spinning: {spent:?} of CPU in {:?}",
            held_since.elapsed()
        );
    });
    // A half-sent request does not hold the shutdown.
    let half_sent = runtime().block_on(slow_client("127.0.0.3", to));
    assert!(half_sent.is_some());
    let asked = Instant::now();
    let status = terminate(&mut served, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(asked.elapsed() < Duration::from_secs(5));
    drop(half_sent);
}

#[test]
fn out_of_file_descriptors_the_gateway_neither_spins_nor_drops_open_connections() {
    crate::support::raise_open_file_limit();
    let (_provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let mut served = serve_configured(
        home.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--keepalive-every",
            "3600",
            "--header-timeout",
            "3",
        ],
        |command| {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    let limit = libc::rlimit {
                        rlim_cur: 200,
                        rlim_max: 200,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    let to = address(&served);
    let pid = served.child.id();
    let socket = home.path().join("gateway.sock");
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{}/v1/token?data_source=A", served.base);
        slowest_answer(&client, &url, &key, 1).await;
        // Flood both doors: TCP from another address and the local socket, far
        // beyond the gateway's 200 descriptors.
        let mut held_tcp = Vec::new();
        for _ in 0..400 {
            if let Some(stream) = slow_client("127.0.0.2", to).await {
                held_tcp.push(stream);
            }
        }
        let mut held_local = Vec::new();
        for _ in 0..200 {
            if let Ok(Ok(stream)) = tokio::time::timeout(
                Duration::from_millis(50),
                tokio::net::UnixStream::connect(&socket),
            )
            .await
            {
                held_local.push(stream);
            }
        }
        let cpu_before = cpu_time(pid);
        let since = Instant::now();
        let slowest = slowest_answer(&client, &url, &key, 30).await;
        let spent = cpu_time(pid) - cpu_before;
        assert!(
            slowest < Duration::from_millis(500),
            "the open connection is served: {slowest:?}"
        );
        assert!(
            spent < since.elapsed() / 3,
            "no spinning on accept errors: {spent:?} of CPU in {:?}",
            since.elapsed()
        );
        drop(held_tcp);
        drop(held_local);
        // Once the flood is gone, new clients are served again promptly.
        let fresh = reqwest::Client::new();
        let since = Instant::now();
        loop {
            let answered =
                tokio::time::timeout(Duration::from_secs(2), get(&fresh, &url, Some(&key))).await;
            if matches!(answered, Ok((200, _))) {
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "new clients served again"
            );
        }
        let metrics = fresh
            .get(format!("{}/metrics", served.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("tokendesk_connections_refused_total"),
            "{metrics}"
        );
    });
    let status = terminate(&mut served, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
}
