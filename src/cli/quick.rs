//! `tokendesk token` in its plain form, read without clap: a script or a mail
//! client calls it for every message, and beside a gateway the answer is one
//! local-socket round trip, cheaper than building the whole command tree. Any
//! other form (help, an unknown or repeated option) is left to clap, which
//! explains it.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{Cli, Command, TargetArgs};

/// The command line, if it is `token` with only the options this reader knows.
pub fn token(args: impl IntoIterator<Item = OsString>) -> Option<Cli> {
    let mut args = args.into_iter().skip(1);
    let mut vault_dir: Option<PathBuf> = None;
    let mut passphrase_file: Option<PathBuf> = None;
    let mut data_source: Option<String> = None;
    let mut user: Option<String> = None;
    let mut scope: Option<String> = None;
    let mut saw_token = false;
    while let Some(arg) = args.next() {
        let arg = arg.into_string().ok()?;
        if arg == "token" && !saw_token {
            saw_token = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        let value = match inline {
            Some(value) => value,
            None => args.next()?.into_string().ok()?,
        };
        // A value that looks like an option is clap's to judge.
        if value.starts_with('-') {
            return None;
        }
        let slot = match name.as_str() {
            "--data-source" if saw_token => &mut data_source,
            "--user" if saw_token => &mut user,
            "--scope" if saw_token => &mut scope,
            "--vault-dir" => {
                set_once(&mut vault_dir, PathBuf::from(value))?;
                continue;
            }
            "--passphrase-file" => {
                set_once(&mut passphrase_file, PathBuf::from(value))?;
                continue;
            }
            _ => return None,
        };
        set_once(slot, value)?;
    }
    if !saw_token {
        return None;
    }
    let vault_dir = vault_dir.or_else(|| {
        std::env::var_os("TOKENDESK_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    Some(Cli {
        vault_dir,
        passphrase_file,
        command: Some(Command::Token {
            target: TargetArgs {
                data_source: data_source?,
                user,
            },
            scope,
        }),
    })
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    /// What this reader makes of a line is what clap makes of it.
    #[test]
    fn the_plain_forms_read_as_clap_reads_them() {
        for line in [
            "tokendesk token --data-source Exchange",
            "tokendesk token --data-source=Exchange --user USER/jdoe",
            "tokendesk --vault-dir /srv/td token --scope https://outlook.office.com/SMTP.Send --data-source Exchange",
            "tokendesk token --data-source Exchange --passphrase-file /etc/td/pass",
        ] {
            let quick = token(argv(line)).expect(line);
            let clap = Cli::parse_from(argv(line));
            assert_eq!(format!("{quick:?}"), format!("{clap:?}"), "{line}");
        }
    }

    #[test]
    fn anything_else_is_left_to_clap() {
        for line in [
            "tokendesk token",
            "tokendesk token --help",
            "tokendesk token --data-source A --data-source B",
            "tokendesk token --data-source",
            "tokendesk token --data-source -x",
            "tokendesk token --verbose --data-source A",
            "tokendesk status",
            "tokendesk --user x token --data-source A",
            "tokendesk",
        ] {
            assert!(token(argv(line)).is_none(), "{line}");
        }
    }
}
