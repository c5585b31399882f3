//! The driver: the clock, the store, pacing and channels around the pure interpreter.
//! One engine (`engine::Runner`) for `run` on any `Clock` and `Channel`; `simulate` on a
//! virtual clock with its writer thread; `ingest` through the same step function (`step.rs`).

mod admit;
mod answers;
pub mod apply;
pub mod arrival;
pub mod clock;
pub mod engine;
pub mod error;
pub mod event_key;
pub mod events;
pub mod frequency;
mod guard;
mod import;
pub mod ingest;
pub mod live_edit;
pub mod load;
pub mod metrics;
pub mod output;
pub mod pacing;
pub mod preview;
pub mod progress;
pub mod responses;
mod room;
pub mod run;
pub mod simulate;
mod sorter;
pub mod step;
pub mod writer;

pub use error::DriverError;
pub use output::SimFormat;
pub use simulate::Simulation;

#[cfg(test)]
mod run_tests;
