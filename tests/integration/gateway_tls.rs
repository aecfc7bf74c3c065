//! The gateway beyond loopback: plain HTTP refused, TLS with the admin's
//! certificate, `/metrics` behind a consumer key; and bad keys slowed down.

use std::time::{Duration, Instant};

use crate::support::desk::{self, text};
use crate::support::gateway::{consumer, get, runtime, serve, serve_with, setup};

#[test]
fn beyond_loopback_the_gateway_speaks_only_tls_and_metrics_want_a_key() {
    let (provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);

    // Plain HTTP on every interface: refused before anything listens.
    let out = desk::run(home.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--tls-cert"), "{}", text(&out));

    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
    let cert = home.path().join("gateway.pem");
    let private_key = home.path().join("gateway.key");
    std::fs::write(&cert, certified.cert.pem()).expect("write");
    std::fs::write(&private_key, certified.signing_key.serialize_pem()).expect("write");
    // Listening on every interface; the test only ever connects to 127.0.0.1.
    let served = serve_with(
        home.path(),
        &[
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            cert.to_str().expect("path"),
            "--tls-key",
            private_key.to_str().expect("path"),
        ],
    );
    assert!(
        served.base.starts_with("https://0.0.0.0:"),
        "{}",
        served.base
    );
    let port = served.base.rsplit(':').next().expect("port").to_string();
    let base = format!("https://127.0.0.1:{port}");
    runtime().block_on(async {
        let trusted = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(certified.cert.pem().as_bytes())
                    .expect("certificate"),
            ])
            .build()
            .expect("client");
        let (status, body) = get(
            &trusted,
            &format!("{base}/v1/token?data_source=A"),
            Some(&key),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().expect("token");
        assert!(provider.issued_access_tokens().iter().any(|t| t == token));

        // Off loopback, /metrics is for consumers only; /healthz stays open.
        assert_eq!(get(&trusted, &format!("{base}/metrics"), None).await.0, 401);
        let metrics = trusted
            .get(format!("{base}/metrics"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("metrics");
        assert_eq!(metrics.status().as_u16(), 200);
        assert!(
            metrics
                .text()
                .await
                .unwrap_or_default()
                .contains("tokendesk_hand_outs_total 1")
        );
        assert_eq!(get(&trusted, &format!("{base}/healthz"), None).await.0, 200);

        // Plain HTTP to the TLS port gets no answer at all, and a client that does
        // not trust the certificate gets no token.
        let plain = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        assert!(plain.is_err(), "{plain:?}");
        let untrusting = reqwest::Client::builder()
            .tls_certs_only([])
            .build()
            .expect("client");
        let refused = untrusting
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        assert!(refused.is_err(), "{refused:?}");
        // The server goes on after those failed handshakes.
        assert_eq!(get(&trusted, &format!("{base}/healthz"), None).await.0, 200);
    });
}

#[test]
fn repeated_bad_keys_from_one_address_are_answered_ever_more_slowly() {
    let (_provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let served = serve(home.path());
    let url = format!("{}/v1/token?data_source=A", served.base);
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let mut waits = Vec::new();
        for _ in 0..4 {
            let started = Instant::now();
            assert_eq!(get(&client, &url, Some("tdk_guess")).await.0, 401);
            waits.push(started.elapsed());
        }
        // 100 ms more for each bad key in a row (at most two seconds).
        assert!(waits[3] >= Duration::from_millis(400), "{waits:?}");
        assert!(waits[3] > waits[0], "{waits:?}");
        // The right key is answered at once and forgives the address.
        let started = Instant::now();
        assert_eq!(get(&client, &url, Some(&key)).await.0, 200);
        let started_bad = Instant::now();
        assert_eq!(get(&client, &url, Some("tdk_guess")).await.0, 401);
        let after = started_bad.elapsed();
        assert!(after < Duration::from_millis(400), "{after:?}");
        assert!(started.elapsed() >= after);
    });
}
