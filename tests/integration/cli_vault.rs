//! The vault commands as an admin runs them: data sources, users, sign-in into the
//! vault, backup, export and import, and the error without any key store.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use crate::support::provider::{CLIENT_ID, PollAnswer, TestProvider};

fn tokendesk(home: &Path, args: &[&str]) -> Output {
    Command::new(support::bin())
        .args(args)
        .env("TOKENDESK_HOME", home)
        .env("TOKENDESK_PASSPHRASE", "cli test passphrase")
        .env("TOKENDESK_BUNDLE_PASSPHRASE", "bundle passphrase")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run tokendesk")
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "expected failure, stdout:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn an_admin_sets_up_a_data_source_and_stores_tokens() {
    let provider = TestProvider::microsoft();
    provider.set_interval(Some(1));
    let home = support::temp_dir();
    let home = home.path();
    let base = provider.base_url().to_string();

    let out = ok(tokendesk(
        home,
        &[
            "data-source",
            "add",
            "Exchange",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--authority-host",
            &base,
            "--client-id",
            CLIENT_ID,
            "--preset",
            "ews",
            "--account",
            "sales@contoso.com",
        ],
    ));
    assert!(out.contains("Added data source 'Exchange'"));
    let err = failed(tokendesk(
        home,
        &[
            "data-source",
            "add",
            "exchange",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--client-id",
            CLIENT_ID,
            "--account",
            "x@contoso.com",
        ],
    ));
    assert!(err.contains("already exists"), "{err}");

    let csv = home.join("users.csv");
    std::fs::write(&csv, "login,display name,e-mail\nUSER/jdoe,\"Doe, Jane\",jane@contoso.com\nUSER/max,Max,max@contoso.com\n").unwrap();
    assert!(
        ok(tokendesk(
            home,
            &["user", "import-csv", csv.to_str().unwrap()]
        ))
        .contains("Imported 2 user(s)")
    );
    std::fs::write(
        &csv,
        "login,display name,e-mail\nUSER/x,X,x@contoso.com\nUSER/y,Y,not-mail\n",
    )
    .unwrap();
    let err = failed(tokendesk(
        home,
        &["user", "import-csv", csv.to_str().unwrap()],
    ));
    assert!(err.contains("Line 3"), "{err}");
    let listed = ok(tokendesk(home, &["user", "list"]));
    assert!(
        listed.contains("USER/jdoe") && !listed.contains("USER/x"),
        "nothing of a bad file is imported"
    );

    let err = failed(tokendesk(
        home,
        &[
            "user",
            "add",
            "USER/jdoe",
            "--data-source",
            "Exchange",
            "--exchange-user",
            "jane",
        ],
    ));
    assert!(err.contains("not an e-mail address"), "{err}");
    ok(tokendesk(
        home,
        &[
            "user",
            "add",
            "USER/jdoe",
            "--data-source",
            "Exchange",
            "--exchange-user",
            "jane@contoso.com",
        ],
    ));
    let err = failed(tokendesk(
        home,
        &[
            "user",
            "add",
            "USER/jdoe",
            "--data-source",
            "Exchange",
            "--exchange-user",
            "j2@contoso.com",
        ],
    ));
    assert!(err.contains("already mapped"), "{err}");

    provider.script_polls(&[PollAnswer::Approve]);
    let out = ok(tokendesk(
        home,
        &["sign-in", "--data-source", "Exchange", "--no-browser"],
    ));
    assert!(out.contains("Sign in as sales@contoso.com."), "{out}");
    assert!(
        out.contains("Stored the refresh token for Exchange"),
        "{out}"
    );

    // The wrong person signs in for the additional user: nothing is stored.
    provider.script_polls(&[PollAnswer::Approve]);
    let err = failed(tokendesk(
        home,
        &[
            "sign-in",
            "--data-source",
            "Exchange",
            "--user",
            "USER/jdoe",
            "--no-browser",
        ],
    ));
    assert!(err.contains("sales@contoso.com signed in, but Exchange › USER/jdoe is configured for jane@contoso.com"), "{err}");
    let mappings = ok(tokendesk(
        home,
        &["user", "list", "--data-source", "Exchange"],
    ));
    assert!(mappings.contains("no token"), "{mappings}");

    provider.set_user("jane@contoso.com");
    provider.script_polls(&[PollAnswer::Approve]);
    ok(tokendesk(
        home,
        &[
            "sign-in",
            "--data-source",
            "Exchange",
            "--user",
            "USER/jdoe",
            "--no-browser",
        ],
    ));
    let mappings = ok(tokendesk(
        home,
        &["user", "list", "--data-source", "Exchange"],
    ));
    assert!(mappings.contains("healthy"), "{mappings}");

    let sources = ok(tokendesk(home, &["data-source", "list"]));
    assert!(
        sources.contains("Exchange") && sources.contains("healthy") && sources.contains(" 89 "),
        "{sources}"
    );

    let vault_bytes = std::fs::read(home.join("vault.tdv")).unwrap();
    for token in provider.issued_refresh_tokens() {
        assert!(
            !String::from_utf8_lossy(&vault_bytes).contains(&token),
            "refresh token in plain text"
        );
    }

    // Move the vault to another machine.
    let bundle = home.join("move.tdbundle");
    ok(tokendesk(
        home,
        &["vault", "export", bundle.to_str().unwrap()],
    ));
    let other = support::temp_dir();
    let out = ok(tokendesk(
        other.path(),
        &["vault", "import", bundle.to_str().unwrap()],
    ));
    assert!(out.contains("Imported 1 data source(s)"));
    assert!(
        ok(tokendesk(
            other.path(),
            &["user", "list", "--data-source", "Exchange"]
        ))
        .contains("healthy")
    );

    // Damage, then restore the previous generation.
    std::fs::write(home.join("vault.tdv"), b"TOKENDSK\x01\x00\x02cut").unwrap();
    let err = failed(tokendesk(home, &["data-source", "list"]));
    assert!(err.contains("restore-backup"), "{err}");
    let out = ok(tokendesk(home, &["vault", "restore-backup"]));
    assert!(out.contains("Restored the backup generation"), "{out}");
    assert!(out.contains("vault.tdv.damaged-"), "{out}");
    assert!(ok(tokendesk(home, &["data-source", "list"])).contains("Exchange"));

    // A consumer of the data source goes with it, named (its key could only be refused).
    ok(tokendesk(
        home,
        &["consumer", "add", "Portal", "--data-source", "Exchange"],
    ));
    let out = ok(tokendesk(home, &["data-source", "remove", "Exchange"]));
    assert!(out.contains("with 1 additional user(s)"));
    assert!(
        out.contains("Removed its consumer(s), whose keys no longer work: Portal."),
        "{out}"
    );
    assert!(!ok(tokendesk(home, &["consumer", "list"])).contains("Portal"));
}

#[test]
fn without_keyring_or_passphrase_the_error_names_both_ways_out() {
    let home = support::temp_dir();
    let output = Command::new(support::bin())
        .args(["vault", "init"])
        .env("TOKENDESK_HOME", home.path())
        .env_remove("TOKENDESK_PASSPHRASE")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/tokendesk-test-bus",
        )
        .output()
        .unwrap();
    let err = failed(output);
    assert!(err.contains("No OS keyring is reachable"), "{err}");
    assert!(
        err.contains("TOKENDESK_PASSPHRASE") && err.contains("--passphrase-file"),
        "{err}"
    );
    assert!(
        !home.path().join("vault.tdv").exists(),
        "nothing may be written without protection"
    );

    // The passphrase file way out works.
    let file = home.path().join("pass.txt");
    std::fs::write(&file, "from a file\n").unwrap();
    let output = Command::new(support::bin())
        .args(["vault", "init", "--passphrase-file", file.to_str().unwrap()])
        .env("TOKENDESK_HOME", home.path())
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/tokendesk-test-bus",
        )
        .output()
        .unwrap();
    assert!(ok(output).contains("protected by a passphrase"));
    let err = failed(
        Command::new(support::bin())
            .args(["data-source", "list"])
            .env("TOKENDESK_HOME", home.path())
            .env("TOKENDESK_PASSPHRASE", "not it")
            .output()
            .unwrap(),
    );
    assert!(err.contains("Wrong passphrase"), "{err}");
}
