//! The integration tests, one binary: each former `tests/*.rs` crate is a module here, so the
//! library and its dependencies are linked once. Run one module with
//! `cargo test --release --test it fuzz::`.

// The builder offers what a test may need (env, stdin from a file, ...) before one uses it.
#[allow(dead_code)]
mod fake_twilio;
#[allow(dead_code)]
mod herald;
#[allow(dead_code)]
mod live;
mod support;

mod cases;
mod channels;
mod cli;
mod compliance;
mod contacts;
mod crash;
mod damaged;
mod events_in;
mod explain;
mod fixture;
mod fuzz;
mod guard;
mod hostile;
mod ingest;
mod init;
mod interpreter;
mod layers;
mod limits;
mod ops;
mod pacing;
mod phones;
mod policy;
mod policy_frequency;
mod receiver;
mod relay;
mod report;
mod run;
mod server;
mod server_crash;
mod server_hooks;
mod server_loop;
mod server_stall;
mod simulate;
mod simulate_whole;
mod smtp;
mod test_command;
mod twilio;
