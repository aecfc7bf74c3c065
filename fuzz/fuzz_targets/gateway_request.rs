#![no_main]
// The body lives in tokendesk::fuzzing, so `cargo test` replays the corpus through it.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tokendesk::fuzzing::gateway_request(data));
