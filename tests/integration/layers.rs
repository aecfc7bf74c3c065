//! The faces (the window, the CLI and the gateway) reach the vault, the identity client, the
//! keep-alive and everything below only through `desk`: a grep over their source.

use std::path::{Path, PathBuf};

/// Modules below the desk that no face may name.
const BELOW_DESK: &[&str] = &[
    "crate::vault",
    "crate::identity",
    "crate::keepalive",
    "crate::lifecycle",
    "crate::redemption",
    "crate::schedule",
    "crate::audit",
    "crate::clock",
    "crate::secret",
    "crate::hardening",
    "crate::notify::",
    "crate::mail::",
    "tokendesk::vault",
    "tokendesk::identity",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_window_and_the_cli_reach_everything_below_only_through_desk() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root.join("ui"), &mut files);
    rust_files(&root.join("cli"), &mut files);
    rust_files(&root.join("gateway"), &mut files);
    assert!(files.len() > 10, "the faces' source was found");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source file");
        // Unit tests beside the code may build their fixtures from any layer.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (number, line) in code.lines().enumerate() {
            if let Some(path) = BELOW_DESK.iter().find(|p| line.contains(*p)) {
                found.push(format!(
                    "{}:{}: {path}",
                    file.strip_prefix(&root).unwrap_or(file).display(),
                    number + 1
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "faces reaching below desk:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_source_file_grows_past_about_500_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).ok()?.lines().count();
            (lines > 520).then(|| format!("{} has {lines} lines", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by purpose:\n{}",
        long.join("\n")
    );
}
