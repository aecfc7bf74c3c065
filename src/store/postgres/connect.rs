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
        let config: tokio_postgres::Config = text.parse().map_err(|e| StoreError::Url {
            detail: format!("{e}"),
        })?;
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
            let config =
                crate::identity::tls::client_config().map_err(|detail| StoreError::Connect {
                    target: self.describe(),
                    detail,
                })?;
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
    }
}
