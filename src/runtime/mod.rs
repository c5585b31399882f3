//! The interpreter: pure functions from (graph, lead, input, now) to a moved lead, effects and
//! history records. No I/O and no clock: the driver owns both.

pub mod lead;

pub use lead::{
    Action, ActionKind, CallInfo, Effect, Event, Input, Lead, LeadStatus, Park, Record, Reply, Text, action_key,
};
mod act;
pub mod advance;
mod by_hand;
mod note;
pub mod opt_out;
mod outcome;
pub mod scope;
pub mod split;
pub mod window;

pub use act::render_action;
pub use advance::{Advance, Flight, Pacer, Unpaced, advance, relocate, step_due};
pub use opt_out::is_opt_out;
