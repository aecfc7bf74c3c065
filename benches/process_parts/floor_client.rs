//! The floor for `tokendesk token` beside a gateway: the same question on the same
//! local socket, asked by the smallest Rust program there is (std only, no
//! runtime, no argument parser, no JSON library). benches/process.rs compiles it
//! with rustc and times both in the same run. Not part of tokendesk.
//!
//! Usage: floor_client SOCKET DATA_SOURCE

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(socket), Some(data_source)) = (args.next(), args.next()) else {
        eprintln!("usage: floor_client SOCKET DATA_SOURCE");
        std::process::exit(2);
    };
    let mut stream = UnixStream::connect(&socket).expect("the gateway's socket");
    writeln!(stream, "{{\"data_source\":\"{data_source}\"}}").expect("the question");
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .expect("the answer");
    let key = "\"access_token\":\"";
    let start = line.find(key).expect("a token") + key.len();
    let end = start + line[start..].find('"').expect("the token's end");
    println!("{}", &line[start..end]);
}
