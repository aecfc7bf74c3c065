//! Debian's Postfix and Dovecot for one test, in a temporary folder, on free
//! loopback ports: Dovecot's IMAP with `passdb oauth2` checking XOAUTH2 and
//! OAUTHBEARER tokens by introspection at the test's oidc-provider (its
//! confidential client), Postfix's submission with SASL through Dovecot's auth
//! socket (so SMTP XOAUTH2 is checked by the same introspection), delivery to
//! Dovecot over LMTP. Stopped when dropped. `None` where the packages are not
//! installed (unless TOKENDESK_REQUIRE_MAIL says they must be).
//!
//! Checked by hand (2026-12-04): a token from oidc-provider's device flow for
//! alice logs in over IMAP and sends over SMTP; a wrong one is refused; the mail
//! lands in alice's Maildir and is listed over IMAP.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct MailServers {
    dir: tempfile::TempDir,
    pub imap_port: u16,
    /// Dovecot's IMAP inside TLS from the first byte (the relay's upstream).
    pub imaps_port: u16,
    pub submission_port: u16,
    /// The self-signed certificate Postfix offers with STARTTLS (PEM).
    pub certificate: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl MailServers {
    /// `introspection`: the provider's introspection URL with the confidential
    /// client's credentials in it (percent-encoded).
    pub fn start(introspection: &str) -> Option<MailServers> {
        if !Path::new("/usr/sbin/dovecot").exists() || !Path::new("/usr/sbin/postfix").exists() {
            assert!(
                std::env::var_os("TOKENDESK_REQUIRE_MAIL").is_none(),
                "TOKENDESK_REQUIRE_MAIL is set but Postfix or Dovecot is not installed"
            );
            eprintln!("SKIPPED: Postfix and Dovecot are not installed");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tokendesk-mail-")
            .tempdir()
            .expect("mail dir");
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate");
        let servers = MailServers {
            dir,
            imap_port: free_port(),
            imaps_port: free_port(),
            submission_port: free_port(),
            certificate: certified.cert.pem(),
        };
        std::fs::create_dir_all(servers.path("postfix")).expect("postfix dir");
        std::fs::write(servers.path("postfix/cert.pem"), certified.cert.pem()).expect("cert");
        std::fs::write(
            servers.path("postfix/key.pem"),
            certified.signing_key.serialize_pem(),
        )
        .expect("key");
        servers.start_dovecot(introspection);
        servers.start_postfix();
        Some(servers)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start_dovecot(&self, introspection: &str) {
        let d = self.path("dovecot");
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub)).expect("dovecot dirs");
        }
        chmod(self.dir.path(), 0o755);
        chmod(&d, 0o755);
        chown(&d.join("mail"), "dovecot:dovecot");
        let d = d.display();
        std::fs::write(
            self.path("dovecot/oauth2.conf"),
            format!(
                "introspection_mode = post\nintrospection_url = {introspection}\nusername_attribute = email\nactive_attribute = active\nactive_value = true\n"
            ),
        )
        .expect("oauth2.conf");
        let imap = self.imap_port;
        let imaps = self.imaps_port;
        let p = self.path("postfix").display().to_string();
        std::fs::write(
            self.path("dovecot/dovecot.conf"),
            format!(
                r#"protocols = imap lmtp
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{p}/cert.pem
ssl_key = <{p}/key.pem
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
mail_location = maildir:{d}/mail/%n
first_valid_uid = 1
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/mail/%n allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
"#
            ),
        )
        .expect("dovecot.conf");
        run("dovecot", &["-c", &format!("{d}/dovecot.conf")]);
    }

    fn start_postfix(&self) {
        let p = self.path("postfix");
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir_all(p.join(sub)).expect("postfix dirs");
        }
        chown(&p.join("data"), "postfix");
        let (pd, dd) = (p.display(), self.path("dovecot").display().to_string());
        std::fs::write(
            p.join("conf/main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {pd}/queue\ndata_directory = {pd}/data\nmail_owner = postfix\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmyhostname = mx.contoso.test\nmydestination =\nvirtual_mailbox_domains = contoso.test\nvirtual_transport = lmtp:unix:{dd}/run/lmtp\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = {dd}/run/auth-client\nsmtpd_sasl_auth_enable = yes\nsmtpd_relay_restrictions = permit_sasl_authenticated, reject\nsmtpd_recipient_restrictions = permit_sasl_authenticated, reject\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = {pd}/cert.pem\nsmtpd_tls_key_file = {pd}/key.pem\nmaillog_file_prefixes = {pd}\nmaillog_file = {pd}/postfix.log\nsmtp_dns_support_level = disabled\nmessage_size_limit = 104857600\n"
            ),
        )
        .expect("main.cf");
        let mut master = format!("127.0.0.1:{} inet n - n - - smtpd\n", self.submission_port);
        for line in [
            "pickup unix n - n 60 1 pickup",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ] {
            master.push_str(line);
            master.push('\n');
        }
        std::fs::write(p.join("conf/master.cf"), master).expect("master.cf");
        run("postfix", &["-c", &format!("{pd}/conf"), "start"]);
    }

    /// Both servers' logs, for a failure's message.
    pub fn logs(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.path(p)).unwrap_or_default();
        format!(
            "dovecot:\n{}\npostfix:\n{}",
            read("dovecot/dovecot.log"),
            read("postfix/postfix.log")
        )
    }

    /// The files delivered to `user`'s INBOX (Maildir `new`).
    pub fn delivered(&self, user: &str) -> Vec<String> {
        let new = self.path("dovecot/mail").join(user).join("new");
        std::fs::read_dir(new)
            .map(|entries| {
                entries
                    .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        let p = self.path("postfix/conf").display().to_string();
        let _ = Command::new("postfix").args(["-c", &p, "stop"]).output();
        let d = self.path("dovecot/dovecot.conf").display().to_string();
        let _ = Command::new("doveadm").args(["-c", &d, "stop"]).output();
    }
}

fn run(program: &str, args: &[&str]) {
    // Postfix's master keeps stdout: give it none, or the test waits for it.
    let status = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("start a mail server");
    assert!(status.success(), "{program} {args:?}");
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn chown(path: &Path, owner: &str) {
    let status = Command::new("chown")
        .arg(owner)
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success());
}
