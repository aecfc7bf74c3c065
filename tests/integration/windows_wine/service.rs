//! The gateway as a Windows service under Wine's service manager: `service
//! install` registers and starts it, `sc query` says RUNNING, tokens come over
//! HTTP and through the pipe, `sc stop` in the middle of a redemption lets the
//! rotated token be stored first, and `service remove` leaves nothing behind.

use std::time::{Duration, Instant};

use super::{Wine, add_source, ok, sign_in, text};
use crate::support::gateway::{get, runtime};
use crate::support::provider::{Endpoint, TestProvider};

const SERVICE: &str = "tokendesk-gateway";

/// `sc query tokendesk-gateway`: its output, or None once the service is gone.
fn sc_query(wine: &Wine) -> Option<String> {
    let out = super::within(
        wine.program("sc", &["query", SERVICE], &[]),
        std::time::Duration::from_secs(180),
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    out.status.success().then_some(said)
}

/// Waits (bounded) until `sc query` shows `state` or the service is gone;
/// returns what it said last.
fn wait_for_state(wine: &Wine, state: &str, limit: Duration) -> Option<String> {
    let started = Instant::now();
    loop {
        let said = sc_query(wine);
        let reached = match &said {
            Some(said) => said.contains(state),
            None => true,
        };
        if reached || started.elapsed() > limit {
            return said;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Removes the service however the test ends: one left registered would start
/// with every later Wine program (it starts automatically) and keep its output
/// open.
struct RemovedAtEnd(Wine);

impl Drop for RemovedAtEnd {
    fn drop(&mut self) {
        for args in [["stop", SERVICE], ["delete", SERVICE]] {
            let _ = self
                .0
                .program("sc", &args, &[])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        self.0.flush_registry();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn windows_wine_service_runs_the_gateway_stops_after_the_write_and_is_removed_whole() {
    let Some(wine) = Wine::from_env("windows_wine service") else {
        return;
    };
    let passphrase = "service passphrase";
    let wine = wine.with_vault("C:\\tokendesk-service", Some(passphrase));
    // A service runs as LocalSystem on Windows, which cannot read the user's
    // Credential Manager: it opens the vault with a passphrase file.
    let passphrase_file = "C:\\tokendesk-service-pass.txt";
    std::fs::write(wine.drive_c(passphrase_file), passphrase).expect("passphrase file");
    ok(wine.run(&["vault", "init"]));
    let provider = TestProvider::oidc();
    provider.set_interval(Some(1));
    provider.set_access_lifetime(2);
    add_source(&wine, &provider);
    sign_in(&wine, &provider);
    let key = ok(wine.run(&["consumer", "add", "Portal", "--data-source", "A"]))
        .trim()
        .to_string();
    wine.keep_server_running();
    let _removed = RemovedAtEnd(wine.clone());
    // One left by an earlier run that was cut short goes first.
    ok(wine.run(&["service", "remove"]));
    assert_eq!(wait_for_state(&wine, "none", Duration::from_secs(30)), None);

    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let installed = wine.without_passphrase().run(&[
        "--passphrase-file",
        passphrase_file,
        "service",
        "install",
        "--listen",
        &listen,
    ]);
    let said = ok(installed);
    assert!(said.contains("Installed and started"), "{said}");
    let query = wait_for_state(&wine, "RUNNING", Duration::from_secs(30));
    assert!(
        query.as_deref().is_some_and(|q| q.contains("RUNNING")),
        "sc query: {query:?}"
    );
    let status = ok(wine.run(&["service", "status"]));
    assert!(status.contains("running"), "{status}");

    // Tokens over HTTP and, without the passphrase, through the service's pipe.
    let base = format!("http://{listen}");
    let runtime = runtime();
    let client = reqwest::Client::new();
    let token_url = format!("{base}/v1/token?data_source=A");
    // RUNNING is said as the service starts; it listens once the vault is open.
    let started = Instant::now();
    let (status, body) = loop {
        let answer = runtime.block_on(async {
            let response = client.get(&token_url).bearer_auth(&key).send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((status, response.json::<serde_json::Value>().await?))
        });
        match answer {
            Ok(answer) => break answer,
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!(
                "the service's gateway does not answer on {listen}: {e}; sc query: {:?}",
                sc_query(&wine)
            ),
        }
    };
    assert_eq!(status, 200, "{body}");
    let piped = ok(wine
        .without_passphrase()
        .run(&["token", "--data-source", "A"]));
    assert!(
        provider
            .issued_access_tokens()
            .contains(&piped.trim().to_string()),
        "{piped}"
    );

    // Stop while a redemption is out at the provider: the service ends only after
    // the rotated refresh token is stored.
    std::thread::sleep(Duration::from_secs(3));
    provider.set_token_latency(Duration::from_secs(3));
    let before = provider.requests_to(Endpoint::Token).len();
    let request = {
        let (client, url, key) = (client.clone(), token_url.clone(), key.clone());
        runtime.spawn(async move { get(&client, &url, Some(&key)).await })
    };
    let waited = Instant::now();
    while provider.requests_to(Endpoint::Token).len() == before {
        assert!(waited.elapsed() < Duration::from_secs(20), "no redemption");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = super::within(
        wine.program("sc", &["stop", SERVICE], &[]),
        std::time::Duration::from_secs(180),
    );
    assert!(stop.status.success(), "{}", text(&stop));
    let query = wait_for_state(&wine, "STOPPED", Duration::from_secs(30));
    assert!(
        query.as_deref().is_some_and(|q| q.contains("STOPPED")),
        "sc query: {query:?}"
    );
    let _ = runtime.block_on(request);
    provider.set_token_latency(Duration::ZERO);
    // The vault holds the token the provider issued last: renewing with it is no
    // replay (the provider revokes the whole grant on one).
    ok(wine.run(&["renew", "--data-source", "A"]));
    assert_eq!(provider.replays(), 0, "the stop lost no rotation");

    let removed = ok(wine.run(&["service", "remove"]));
    assert!(removed.contains("removed"), "{removed}");
    assert_eq!(sc_query(&wine), None, "the service is gone");
    wine.flush_registry();
    let system = std::fs::read_to_string(wine.root.join("root/.wine/system.reg")).expect("reg");
    assert!(
        !system.contains(SERVICE),
        "the service manager's registry still names {SERVICE}"
    );
    let status = ok(wine.run(&["service", "status"]));
    assert!(status.contains("not installed"), "{status}");
}
