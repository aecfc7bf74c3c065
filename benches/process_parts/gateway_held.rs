//! The gateway while 1,000 connections are held open against it: half silent,
//! half slowloris (the start of a request and then nothing), from four addresses
//! (each within the per-address limit). Measured meanwhile: the latency of a
//! legitimate kept-alive client and the gateway's resident memory.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

async fn hold(from: &str, to: SocketAddr, slow: bool) -> Option<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(format!("{from}:0").parse().ok()?).ok()?;
    let mut stream = socket.connect(to).await.ok()?;
    if slow {
        stream
            .write_all(b"GET /v1/token?data_source=Exchange HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
            .await
            .ok()?;
    }
    Some(stream)
}

/// Holds `count` connections, then times `requests` token requests of a
/// kept-alive client; returns (held, p50, p99, gateway RSS in KiB).
pub fn measure(
    runtime: &tokio::runtime::Runtime,
    base: &str,
    key: &str,
    gateway: u32,
    count: usize,
    requests: usize,
) -> (usize, Duration, Duration, i64) {
    super::support::raise_open_file_limit();
    let to: SocketAddr = base.trim_start_matches("http://").parse().expect("address");
    let url = format!("{base}/v1/token?data_source=Exchange");
    runtime.block_on(async {
        let mut held = Vec::new();
        for n in 0..count {
            let from = format!("127.0.0.{}", 2 + n % 4);
            if let Some(stream) = hold(&from, to, n % 2 == 1).await {
                held.push(stream);
            }
        }
        // Let the gateway take every one of them before measuring.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let client = reqwest::Client::new();
        let mut samples = Vec::new();
        let started = Instant::now();
        for i in 0..requests + 50 {
            let begun = Instant::now();
            let response = client
                .get(&url)
                .bearer_auth(key)
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status().as_u16(), 200);
            let _ = response.bytes().await;
            if i >= 50 {
                samples.push(begun.elapsed());
            }
        }
        // The measurement must fall inside the header limit (10 s), while all
        // are held.
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        let rss = super::vm_rss_kib(gateway).unwrap_or(0);
        samples.sort();
        let p50 = samples[samples.len() / 2];
        let p99 = samples[samples.len() * 99 / 100];
        (held.len(), p50, p99, rss)
    })
}
