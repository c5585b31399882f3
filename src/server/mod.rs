//! The live server of `herald run --listen` (docs/server.md): takes events, replies, delivery
//! reports and call results over signed HTTP and hands them to the engine
//! (`driver::arrival::Inbox`), answering each request only after its arrivals are durably
//! stored.

pub mod calls;
pub mod twilio;
