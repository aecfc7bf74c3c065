//! A `tokendesk serve` process for the benchmarks: started on a free loopback
//! port, its address read from its first line, its output drained.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

/// Starts the gateway on the vault in `home`, with a keep-alive every `every`
/// seconds; returns the process and its base URL.
pub fn start(home: &Path, every: &str) -> (Child, String) {
    start_with(home, &["--keepalive-every", every])
}

/// Starts the gateway on a free loopback port with `args` after it.
pub fn start_with(home: &Path, args: &[&str]) -> (Child, String) {
    let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut gateway = super::tokendesk(home, &all)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut stdout = BufReader::new(gateway.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("listening on http://") {
        line.clear();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = gateway.kill();
            let _ = gateway.wait();
            panic!("the gateway did not start");
        }
    }
    let base = line.trim().rsplit(' ').next().unwrap_or("").to_string();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (gateway, base)
}
