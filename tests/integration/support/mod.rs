//! Shared test support: the loopback identity provider and small helpers.
//! Each integration test includes this with `mod support;` and uses what it needs.
#![allow(dead_code)]

pub mod desk;
pub mod gateway;
#[cfg(unix)]
pub mod mail;
pub mod plain_window;
pub mod provider;
pub mod webhook;
#[cfg(unix)]
pub mod xvfb;

use std::path::PathBuf;

/// A path for a scratch file that disappears with the returned guard.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tokendesk-test-")
        .tempdir()
        .expect("temp dir")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tokendesk"))
}

use provider::{CLIENT_ID, TestProvider};
use tokendesk::identity::{
    Authority, Cloud, HttpClient, HttpOptions, IdentityClient, ProviderConfig, Scopes,
};

/// A Microsoft-style configuration pointed at the loopback provider.
pub fn microsoft_config(provider: &TestProvider, scopes: Scopes) -> ProviderConfig {
    ProviderConfig {
        authority: Authority::Microsoft {
            cloud: Cloud::Global,
            tenant: provider.tenant(),
            login_host: Some(provider.base_url()),
        },
        client_id: CLIENT_ID.into(),
        client_secret: None,
        scopes,
    }
}

pub fn oidc_config(provider: &TestProvider) -> ProviderConfig {
    ProviderConfig {
        authority: Authority::Issuer {
            url: provider.issuer_url(),
        },
        client_id: CLIENT_ID.into(),
        client_secret: None,
        scopes: Scopes::Custom("openid profile email offline_access".into()),
    }
}

/// Short timeouts so the timeout tests finish quickly.
pub fn quick_http() -> HttpClient {
    HttpClient::new(&HttpOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        read_timeout: std::time::Duration::from_millis(800),
        total_timeout: std::time::Duration::from_secs(3),
        max_response_bytes: 256 * 1024,
    })
    .expect("http client")
}

pub async fn connect(config: ProviderConfig) -> IdentityClient {
    IdentityClient::connect(quick_http(), config)
        .await
        .expect("connect to loopback provider")
}

pub const EWS_GRANT: &str =
    "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile";

/// The Exchange user of mapping `n`: `user0042@contoso.com`.
pub fn upn(n: usize) -> String {
    format!("user{n:04}@contoso.com")
}

/// The application user of mapping `n`: `USER/0042`.
pub fn login(n: usize) -> String {
    format!("USER/{n:04}")
}

/// A new vault in `dir` with one data source "Exchange" whose account and `mappings`
/// additional users all signed in at the provider at `at`.
pub fn vault_with_mappings(
    provider: &TestProvider,
    dir: &std::path::Path,
    keys: &tokendesk::vault::KeySource,
    mappings: usize,
    at: chrono::DateTime<chrono::Utc>,
) -> tokendesk::vault::Vault {
    use tokendesk::Secret;
    use tokendesk::vault::{AppUser, DataSource, UserMapping, Vault};
    let mut vault = Vault::create(dir, keys, false).expect("create vault");
    let config = microsoft_config(provider, Scopes::Ews);
    let mut source = DataSource::new("Exchange", config, "sales@contoso.com");
    source.token.refresh_token = Some(Secret::new(provider.issue_grant(
        "sales@contoso.com",
        EWS_GRANT,
        at,
    )));
    source.token.obtained_at = Some(at);
    for n in 0..mappings {
        let app_user = AppUser {
            login: login(n),
            display_name: format!("User {n}"),
            email: upn(n),
        };
        let mut mapping = UserMapping::new(app_user, upn(n));
        mapping.token.refresh_token =
            Some(Secret::new(provider.issue_grant(&upn(n), EWS_GRANT, at)));
        mapping.token.obtained_at = Some(at);
        source.push_user(mapping);
    }
    vault
        .update(|data| data.add_data_source(source))
        .expect("store data source");
    vault
}

/// Runs SQL on the PostgreSQL database at `url`, on a thread of its own (as the
/// test, not through tokendesk).
pub fn sql(url: &str, statement: &str) -> Vec<tokio_postgres::Row> {
    let url = url.to_string();
    let statement = statement.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(connection);
                client.query(&statement, &[]).await.expect("sql")
            })
    })
    .join()
    .expect("thread")
}

/// A database of its own on the test server at `server` (scripts/with-postgres);
/// returns its URL.
pub fn create_database(server: &str, prefix: &str) -> String {
    let name = format!("{prefix}_{:016x}", rand::random::<u64>());
    sql(server, &format!("CREATE DATABASE {name}"));
    let (base, _) = server.rsplit_once('/').expect("a database in the URL");
    format!("{base}/{name}")
}

/// Lets this process open as many files as its hard limit allows (up to 65,536):
/// the connection floods open more sockets than a default soft limit.
#[cfg(unix)]
pub fn raise_open_file_limit() {
    // SAFETY: getrlimit/setrlimit on this process's own limit with a valid struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A PostgreSQL server of one test's own (`initdb` into a temporary folder, as
/// the `postgres` user when the test runs as root), so that a test may stop it
/// with `-m immediate` (a crash) and start it again without touching the shared
/// test server. `None` where scripts/with-postgres found no PostgreSQL.
pub struct PrivateServer {
    bin: PathBuf,
    cluster: tempfile::TempDir,
    port: u16,
}

impl PrivateServer {
    pub fn start() -> Option<PrivateServer> {
        let bin = PathBuf::from(std::env::var_os("TOKENDESK_TEST_PG_BIN")?);
        let server = PrivateServer::empty(bin, "tokendesk-pg-private-");
        server.as_owner(&[
            "initdb",
            "-D",
            &server.data(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ]);
        server.pg_ctl(&["start", "-w"]);
        sql(&server.url("postgres"), "CREATE DATABASE tokendesk");
        Some(server)
    }

    /// A folder for a cluster (writable by the `postgres` user) and a free port.
    fn empty(bin: PathBuf, prefix: &str) -> PrivateServer {
        let cluster = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("cluster dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(cluster.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
        }
        PrivateServer { bin, cluster, port }
    }

    fn data(&self) -> String {
        self.cluster.path().join("data").display().to_string()
    }

    fn as_owner(&self, args: &[&str]) {
        let program = self.bin.join(args[0]);
        // SAFETY: getuid has no preconditions.
        let root = unsafe { libc::getuid() } == 0;
        let status = if root {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(&args[1..])
                .stdout(std::process::Stdio::null())
                .status()
        } else {
            std::process::Command::new(&program)
                .args(&args[1..])
                .stdout(std::process::Stdio::null())
                .status()
        }
        .expect("run a PostgreSQL program");
        assert!(status.success(), "{args:?}");
    }

    /// `pg_ctl` with these arguments on this cluster.
    pub fn pg_ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.cluster.path().display()
        );
        let log = self.cluster.path().join("server.log").display().to_string();
        let data = self.data();
        let mut all = vec!["pg_ctl", "-D", &data, "-l", &log, "-o", &options];
        all.extend_from_slice(args);
        self.as_owner(&all);
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// From now on `role` (created here, owning the database `tokendesk`) logs in
    /// over TCP only with `password` (SCRAM); `postgres` stays trusted, for the
    /// tests' own SQL.
    pub fn require_password(&self, role: &str, password: &str) {
        let admin = self.url("postgres");
        sql(
            &admin,
            &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
        );
        sql(&admin, &format!("ALTER DATABASE tokendesk OWNER TO {role}"));
        let hba = std::path::PathBuf::from(self.data()).join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .expect("pg_hba.conf");
        sql(&admin, "SELECT pg_reload_conf()");
    }

    /// Serves TLS with this certificate and key (PEM) from now on; plain
    /// connections stay allowed, as `pg_hba.conf`'s `host` lines allow both.
    pub fn serve_tls(&self, cert_pem: &str, key_pem: &str) {
        let data = std::path::PathBuf::from(self.data());
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = data.join(name);
            std::fs::write(&path, pem).expect("write");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod");
                let owner = std::fs::metadata(&data).expect("data dir");
                use std::os::unix::fs::MetadataExt;
                std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid()))
                    .expect("chown");
            }
        }
        sql(&self.url("postgres"), "ALTER SYSTEM SET ssl = on");
        sql(&self.url("postgres"), "SELECT pg_reload_conf()");
    }

    /// A streaming standby of this server (`pg_basebackup -R`), started, that
    /// connects as `name` (for `synchronous_standby_names`).
    pub fn standby(&self, name: &str) -> PrivateServer {
        let standby = PrivateServer::empty(self.bin.clone(), "tokendesk-pg-standby-");
        let primary = format!(
            "host=127.0.0.1 port={} user=postgres application_name={name}",
            self.port
        );
        standby.as_owner(&[
            "pg_basebackup",
            "-D",
            &standby.data(),
            "-R",
            "-X",
            "stream",
            // An immediate checkpoint, not a spread one (which waits minutes).
            "-c",
            "fast",
            "-d",
            &primary,
        ]);
        standby.pg_ctl(&["start", "-w"]);
        standby
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        // SAFETY: getuid has no preconditions.
        let root = unsafe { libc::getuid() } == 0;
        let mut command = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
