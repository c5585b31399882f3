//! The one vocabulary: what conditions and templates can read (roots, their fields and types),
//! the outcomes channels report, lead statuses, and the reasons a lead ends or a row is
//! skipped. The checker, the interpreter, the importer, `ops` and `test` all take their words
//! from here, so they cannot disagree; the words are stored as written here (`as_str`), so
//! none may change. docs/conditions.md and docs/operations.md list them (tests keep them equal).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A closed list of words: the enum, `ALL` and `NAMES` in the same order, `as_str`, `parse`.
macro_rules! words {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$doc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            pub const ALL: [$name; [$($text),*].len()] = [$($name::$variant),*];
            pub const NAMES: &'static [&'static str] = &[$($text),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The static type of a condition's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Number,
    Bool,
    Duration,
    DateTime,
    List,
    Null,
    /// Not known before run time (a variable, an untyped contact column).
    Unknown,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::String => "string",
            Type::Number => "number",
            Type::Bool => "true/false value",
            Type::Duration => "duration",
            Type::DateTime => "datetime",
            Type::List => "list",
            Type::Null => "null",
            Type::Unknown => "value",
        })
    }
}

impl Type {
    pub fn known(self) -> bool {
        !matches!(self, Type::Unknown | Type::Null)
    }

    /// Whether a value of each type could ever be equal (or ordered) at run time.
    pub fn compatible(self, other: Type) -> bool {
        self == other || !self.known() || !other.known()
    }
}

words! {
    /// The names a condition or template starts with, besides the keys of `data:`. The order
    /// is the order help messages list them in.
    pub enum Root {
        Contact = "contact",
        Vars = "vars",
        Reply = "reply",
        Call = "call",
        Message = "message",
        Events = "events",
        Lead = "lead",
        Variant = "variant",
        Campaign = "campaign",
        Now = "now",
        Today = "today",
        /// Templates only: the step being rendered.
        Step = "step",
    }
}

impl Root {
    pub fn in_conditions(self) -> bool {
        self != Root::Step
    }

    pub fn in_templates(self) -> bool {
        matches!(self, Root::Contact | Root::Vars | Root::Campaign | Root::Step)
    }

    /// What `contacts.where` can read at import, before there is a lead: anything else reads
    /// as `null` there.
    pub fn before_lead(self) -> bool {
        matches!(self, Root::Contact | Root::Campaign | Root::Now | Root::Today)
    }

    /// The fixed fields of the root; empty for roots with open names (`contact.<column>`,
    /// `vars.<name>`, `events.<name>`, `variant.<split>`) and for `now` and `today`.
    pub fn fields(self) -> &'static [Field] {
        let all: &'static [Field] = &Field::ALL;
        let start = all.iter().position(|f| f.root() == self);
        start.map_or(&[], |start| {
            let len = all[start..].iter().take_while(|f| f.root() == self).count();
            &all[start..start + len]
        })
    }

    /// Names a help message lists for conditions or templates.
    pub fn names<'a>(templates: bool) -> impl Iterator<Item = &'a str> {
        let shown = move |r: &Root| if templates { r.in_templates() } else { r.in_conditions() };
        Root::ALL.into_iter().filter(shown).map(|r| -> &'a str { r.as_str() })
    }
}

/// The fixed fields of the roots, grouped by root (see `Field::root`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    ReplyText,
    ReplyIntent,
    ReplyChannel,
    ReplyAt,
    ReplyTimedOut,
    CallStatus,
    CallDuration,
    CallAttempt,
    MessageStatus,
    LeadStatus,
    LeadStep,
    LeadAttempts,
    LeadEnteredAt,
    CampaignId,
    CampaignName,
    StepId,
    StepName,
}

impl Field {
    pub const ALL: [Field; 17] = {
        use Field::*;
        [
            ReplyText,
            ReplyIntent,
            ReplyChannel,
            ReplyAt,
            ReplyTimedOut,
            CallStatus,
            CallDuration,
            CallAttempt,
            MessageStatus,
            LeadStatus,
            LeadStep,
            LeadAttempts,
            LeadEnteredAt,
            CampaignId,
            CampaignName,
            StepId,
            StepName,
        ]
    };

    /// The name after the root's dot.
    pub fn as_str(self) -> &'static str {
        use Field::*;
        match self {
            ReplyText => "text",
            ReplyIntent => "intent",
            ReplyChannel => "channel",
            ReplyAt => "at",
            ReplyTimedOut => "timed_out",
            CallStatus | MessageStatus | LeadStatus => "status",
            CallDuration => "duration",
            CallAttempt => "attempt",
            LeadStep => "step",
            LeadAttempts => "attempts",
            LeadEnteredAt => "entered_at",
            CampaignId | StepId => "id",
            CampaignName | StepName => "name",
        }
    }

    pub fn root(self) -> Root {
        use Field::*;
        match self {
            ReplyText | ReplyIntent | ReplyChannel | ReplyAt | ReplyTimedOut => Root::Reply,
            CallStatus | CallDuration | CallAttempt => Root::Call,
            MessageStatus => Root::Message,
            LeadStatus | LeadStep | LeadAttempts | LeadEnteredAt => Root::Lead,
            CampaignId | CampaignName => Root::Campaign,
            StepId | StepName => Root::Step,
        }
    }

    pub fn ty(self) -> Type {
        use Field::*;
        match self {
            ReplyText | ReplyIntent | ReplyChannel | CallStatus | MessageStatus | LeadStatus | LeadStep => Type::String,
            CampaignId | CampaignName | StepId | StepName => Type::String,
            ReplyAt | LeadEnteredAt => Type::DateTime,
            ReplyTimedOut => Type::Bool,
            CallDuration | CallAttempt | LeadAttempts => Type::Number,
        }
    }

    /// The field `name` of `root`. A match, not a search: the interpreter asks at every read.
    pub fn find(root: Root, name: &str) -> Option<Field> {
        use Field::*;
        Some(match (root, name) {
            (Root::Reply, "text") => ReplyText,
            (Root::Reply, "intent") => ReplyIntent,
            (Root::Reply, "channel") => ReplyChannel,
            (Root::Reply, "at") => ReplyAt,
            (Root::Reply, "timed_out") => ReplyTimedOut,
            (Root::Call, "status") => CallStatus,
            (Root::Call, "duration") => CallDuration,
            (Root::Call, "attempt") => CallAttempt,
            (Root::Message, "status") => MessageStatus,
            (Root::Lead, "status") => LeadStatus,
            (Root::Lead, "step") => LeadStep,
            (Root::Lead, "attempts") => LeadAttempts,
            (Root::Lead, "entered_at") => LeadEnteredAt,
            (Root::Campaign, "id") => CampaignId,
            (Root::Campaign, "name") => CampaignName,
            (Root::Step, "id") => StepId,
            (Root::Step, "name") => StepName,
            _ => return None,
        })
    }

    /// The values a string field can take, where the language fixes them.
    pub fn choices(self) -> Option<&'static [&'static str]> {
        match self {
            Field::CallStatus => Some(CallOutcome::NAMES),
            Field::MessageStatus => Some(MessageOutcome::NAMES),
            Field::LeadStatus => Some(LeadStatus::NAMES),
            _ => None,
        }
    }
}

words! {
    /// What a call channel reports (`call.status`, `{"type":"call","status":…}`).
    pub enum CallOutcome {
        Answered = "answered",
        NoAnswer = "no_answer",
        Busy = "busy",
        Voicemail = "voicemail",
        Failed = "failed",
    }
}

words! {
    /// What a message channel reports (`message.status`, `{"type":"delivery","status":…}`).
    pub enum MessageOutcome {
        Sent = "sent",
        Delivered = "delivered",
        Failed = "failed",
        Bounced = "bounced",
        Opened = "opened",
        Clicked = "clicked",
    }
}

impl MessageOutcome {
    /// What a message on a channel of this usual name can report.
    pub fn on_channel(channel: &str) -> &'static [&'static str] {
        match channel {
            "sms" => &["sent", "delivered", "failed"],
            "whatsapp" => &["sent", "delivered", "failed", "opened"],
            _ => MessageOutcome::NAMES,
        }
    }
}

words! {
    /// Lead statuses (docs/language.md). The last eight are final.
    #[derive(PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum LeadStatus {
        Pending = "pending",
        Scheduled = "scheduled",
        Waiting = "waiting",
        InProgress = "in_progress",
        Completed = "completed",
        Converted = "converted",
        Exited = "exited",
        Failed = "failed",
        OptedOut = "opted_out",
        Skipped = "skipped",
        Expired = "expired",
        Cancelled = "cancelled",
    }
}

impl LeadStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, LeadStatus::Pending | LeadStatus::Scheduled | LeadStatus::Waiting | LeadStatus::InProgress)
    }
}

words! {
    /// Why the interpreter or a command ended a lead: its stored `outcome`. An `exit:` step
    /// stores its own label instead, and a skipped row its `SkipReason`.
    pub enum Reason {
        /// A send or call step's retries ran out and no route took the last outcome.
        MaxRetries = "max_retries",
        /// The schedule window never opens again.
        WindowNeverOpens = "window_never_opens",
        /// A message or call prompt did not render, and no retry or route took the failure.
        RenderFailed = "render_failed",
        /// The lead passed through too many steps without parking.
        Loop = "loop",
        /// The lead's step is no longer in the campaign.
        StepMissing = "step_missing",
        /// The schedule's `end` came.
        CampaignEnded = "campaign_ended",
        /// The contact opted out.
        OptOut = "opt_out",
        /// `exit_when` became true.
        ExitWhen = "exit_when",
        /// `herald lead complete`.
        Manual = "manual",
        /// `herald cancel`.
        CampaignCancelled = "campaign_cancelled",
    }
}

impl Reason {
    /// The status a lead ends with for this reason.
    pub fn status(self) -> LeadStatus {
        match self {
            Reason::MaxRetries | Reason::WindowNeverOpens | Reason::RenderFailed => LeadStatus::Failed,
            Reason::Loop | Reason::StepMissing => LeadStatus::Failed,
            Reason::CampaignEnded => LeadStatus::Expired,
            Reason::OptOut => LeadStatus::OptedOut,
            Reason::ExitWhen => LeadStatus::Exited,
            Reason::Manual => LeadStatus::Completed,
            Reason::CampaignCancelled => LeadStatus::Cancelled,
        }
    }

    /// A failure at a send or call step, which acting on that step again retries
    /// (`retry-failed`). Others (`loop`, `step_missing`) would fail the same way again until
    /// the campaign file changes, and their step may not be one that acts.
    pub fn retryable(self) -> bool {
        matches!(self, Reason::MaxRetries | Reason::WindowNeverOpens | Reason::RenderFailed)
    }
}

words! {
    /// Why a row was not imported (a skipped lead's outcome). The order is the order of the
    /// checks, and of the report.
    #[derive(PartialOrd, Ord)]
    pub enum SkipReason {
        /// A different number of cells than the header has.
        InvalidRow = "invalid_row",
        MissingKey = "missing_key",
        InvalidPhone = "invalid_phone",
        InvalidEmail = "invalid_email",
        MissingRequired = "missing_required",
        InvalidField = "invalid_field",
        InvalidTimezone = "invalid_timezone",
        Duplicate = "duplicate",
        Suppressed = "suppressed",
        Filtered = "filtered",
    }
}

impl SkipReason {
    /// A problem of the row itself, which `--rejects` writes and `validate` warns about; not a
    /// contact left out on purpose (suppressed, filtered by `where`).
    pub fn is_problem(self) -> bool {
        !matches!(self, SkipReason::Suppressed | SkipReason::Filtered)
    }

    /// A sentence for people: what was wrong with the row.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::InvalidRow => "the row has a different number of cells than the header",
            SkipReason::MissingKey => "the key column is empty",
            SkipReason::InvalidPhone => "a phone number is not valid",
            SkipReason::InvalidEmail => "an email address is not valid",
            SkipReason::MissingRequired => "a column listed in contacts.require is missing or empty",
            SkipReason::InvalidField => "a value does not have the type contacts.fields gives its column",
            SkipReason::InvalidTimezone => "the timezone column is not an IANA time zone name",
            SkipReason::Duplicate => "an earlier row has the same key",
            SkipReason::Suppressed => "the contact is on a suppression list",
            SkipReason::Filtered => "contacts.where is not true for the contact",
        }
    }
}

#[cfg(test)]
#[path = "vocab_tests.rs"]
mod tests;
