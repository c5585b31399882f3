//! herald: campaigns as code.
//!
//! ```text
//! campaign.yaml --load--> syntax::Campaign --check--> diagnostics + graph::Graph
//!   (serde-saphyr,         (as written, every           (all problems at once;
//!    spanned nodes)          value spanned)               the graph only when error-free)
//! ```
//!
//! The runtime sees only `graph::Graph`, never `syntax`.

/// `eprintln!` that never panics: with stderr closed (`herald … 2>&1 | head`) a message is
/// not worth a crash. Control characters in the message are escaped, line breaks and tabs kept.
#[macro_export]
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr());
    }};
    ($($arg:tt)+) => {{
        use std::io::Write as _;
        // Messages carry CSV cells, event fields and keys: their control characters are
        // escaped (`terminal`), the message's own line breaks kept.
        let text = format!($($arg)+);
        let _ = writeln!(std::io::stderr(), "{}", $crate::terminal::clean_lines(&text));
    }};
}

/// `eprint!` that never panics.
#[macro_export]
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub mod bounded;
pub mod channel;
pub mod check;
pub mod cli;
pub mod config;
pub mod contact;
pub mod contact_rows;
pub mod contacts;
pub mod diagnostic;
pub mod draw;
pub mod driver;
pub mod expr;
pub mod fields;
pub mod fxhash;
pub mod graph;
pub mod init;
pub mod ops;
pub mod phone;
pub mod report;
pub mod runtime;
pub mod schema;
pub mod server;
pub mod short;
pub mod source;
pub mod store;
pub mod syntax;
pub mod template;
pub mod terminal;
pub mod test_runner;
pub mod validate;
pub mod vocab;
