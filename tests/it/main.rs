//! The integration tests, one binary: each former `tests/*.rs` crate is a module here, so the
//! library and its dependencies are linked once. Run one module with
//! `cargo test --release --test it fuzz::`.

// The builder offers what a test may need (env, stdin from a file, ...) before one uses it.
#[allow(dead_code)]
mod herald;
mod support;

mod cases;
mod cli;
mod contacts;
mod crash;
mod damaged;
mod events_in;
mod fixture;
mod fuzz;
mod guard;
mod hostile;
mod ingest;
mod interpreter;
mod layers;
mod limits;
mod ops;
mod pacing;
mod phones;
mod report;
mod run;
mod simulate;
mod simulate_whole;
mod test_command;
