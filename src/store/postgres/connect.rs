//! Connecting: a libpq connection string (`postgresql://…` or `host=… dbname=…`)
//! with several hosts and `target_session_attrs=read-write`, as tokio-postgres
//! reads it. TLS goes through rustls and verifies the server's certificate and
//! name against the platform's trust store by default whenever the server is off
//! loopback and not on a Unix socket (libpq's `verify-full`); `sslmode=disable`
//! there is refused. No password is ever printed: messages name hosts only.

use std::net::IpAddr;

use tokio_postgres::Client;
use tokio_postgres::config::Host;

use super::StoreError;

/// How long a connection may take when the connection string does not say
/// (`connect_timeout`): as long as the identity provider's.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A parsed connection string and how to secure it.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    tls: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn local(host: &Host) -> bool {
    match host {
        #[cfg(unix)]
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
    }
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, StoreError> {
        // libpq's verifying modes, which tokio-postgres does not name: TLS here
        // always verifies the certificate and the host name (verify-full), so
        // both mean `require` to the driver (verify-ca is thereby stricter).
        let text = text
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require");
        let mut config: tokio_postgres::Config = text.parse().map_err(|e| StoreError::Url {
            detail: format!("{e}"),
        })?;
        if config.get_password().is_none()
            && let Some(password) = password_for(&config)
        {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            // libpq waits for ever; a host that drops packets would hold the
            // window's worker, a command or a gateway's watcher that long.
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_hosts().is_empty() {
            return Err(StoreError::Url {
                detail: "it names no host".into(),
            });
        }
        let all_local = config.get_hosts().iter().all(local);
        let mode = config.get_ssl_mode();
        let tls = match mode {
            tokio_postgres::config::SslMode::Disable if all_local => false,
            tokio_postgres::config::SslMode::Disable => {
                return Err(StoreError::Url {
                    detail: "sslmode=disable is allowed only for loopback and Unix sockets: the vault's rows travel to another machine".into(),
                });
            }
            tokio_postgres::config::SslMode::Prefer if all_local => false,
            _ => true,
        };
        Ok(Target { config, tls })
    }

    /// The hosts and database, for messages (never the password).
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .zip(
                self.config
                    .get_ports()
                    .iter()
                    .chain(std::iter::repeat(&5432)),
            )
            .map(|(host, port)| match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        format!(
            "{}/{}",
            hosts.join(","),
            self.config.get_dbname().unwrap_or("(default database)")
        )
    }

    /// One connection, its driver spawned on the current runtime.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let failed = |e: tokio_postgres::Error| StoreError::Connect {
            target: self.describe(),
            detail: crate::store::postgres::plain(&e),
        };
        if self.tls {
            let mut config =
                crate::identity::tls::client_config().map_err(|detail| StoreError::Connect {
                    target: self.describe(),
                    detail,
                })?;
            // The shared configuration offers HTTP/1.1; PostgreSQL 17 and later
            // refuse a connection that offers anything but its own protocol.
            config.alpn_protocols = vec![b"postgresql".to_vec()];
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(config);
            let (client, connection) = self.config.connect(tls).await.map_err(failed)?;
            tokio::spawn(connection);
            Ok(client)
        } else {
            let (client, connection) = self
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(failed)?;
            tokio::spawn(connection);
            Ok(client)
        }
    }
}

/// The password as libpq finds it when the connection string has none:
/// PGPASSWORD, else the first matching line of the passfile (PGPASSFILE, or
/// ~/.pgpass; `host:port:database:user:password`, `*` matching anything).
fn password_for(config: &tokio_postgres::Config) -> Option<String> {
    if let Ok(password) = std::env::var("PGPASSWORD")
        && !password.is_empty()
    {
        return Some(password);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first()? {
        Host::Tcp(name) => name.clone(),
        #[cfg(unix)]
        Host::Unix(path) => path.display().to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let database = config.get_dbname().unwrap_or_default().to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields: Vec<&str> = line.splitn(5, ':').collect();
            let [h, p, d, u, password] = fields[..] else {
                return None;
            };
            let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
            (matches(h, &host) && matches(p, &port) && matches(d, &database) && matches(u, &user))
                .then(|| password.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_required_off_loopback_and_the_password_is_never_shown() {
        let local = Target::parse("postgresql://u:hunter2@127.0.0.1:5433/td").expect("url");
        assert!(!local.tls);
        assert_eq!(local.describe(), "127.0.0.1:5433/td");
        let remote = Target::parse(
            "postgresql://u:hunter2@db1.example.test,db2.example.test/td?target_session_attrs=read-write",
        )
        .expect("url");
        assert!(remote.tls, "verify-full by default off loopback");
        assert!(!format!("{remote:?}").contains("hunter2"));
        assert_eq!(
            remote.describe(),
            "db1.example.test:5432,db2.example.test:5432/td"
        );
        let refused = Target::parse("postgresql://u@db.example.test/td?sslmode=disable");
        assert!(matches!(refused, Err(StoreError::Url { .. })));
        assert!(
            Target::parse("postgresql://u@127.0.0.1/td?sslmode=require")
                .expect("url")
                .tls
        );
        assert_eq!(local.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let patient = Target::parse("postgresql://u@127.0.0.1/td?connect_timeout=30").expect("url");
        assert_eq!(
            patient.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(30))
        );
        for mode in ["verify-full", "verify-ca"] {
            let url = format!("postgresql://u@127.0.0.1/td?sslmode={mode}");
            assert!(Target::parse(&url).expect("libpq's mode").tls);
            let keywords = format!("host=127.0.0.1 dbname=td sslmode={mode}");
            assert!(Target::parse(&keywords).expect("libpq's mode").tls);
        }
    }
}
