//! The driver: the clock, the store, pacing and channels around the pure interpreter.
//! `simulate` runs it on a virtual clock; `run` (next) on the real one.

mod admit;
mod answers;
pub mod clock;
pub mod engine;
mod error;
mod guard;
mod import;
pub mod live_edit;
pub mod load;
pub mod output;
pub mod pacing;
pub mod progress;
pub mod responses;
pub mod run;
pub mod simulate;
mod sorter;
pub mod step;
pub mod writer;

pub use output::SimFormat;
pub use simulate::Simulation;
