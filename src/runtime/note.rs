//! An input for a lead that is already final: it keeps the input in its history and does not
//! move (a late reply, a call outcome after an opt-out).

use chrono::{DateTime, Utc};

use super::{Event, Input, Lead, Record, Text};

impl Lead {
    /// The record of `input` arriving at `at` for this final lead; takes its place in the
    /// lead's history sequence.
    pub fn note(&mut self, at: DateTime<Utc>, input: &Input) -> Record {
        self.seq += 1;
        Record { at, step: self.step.clone(), event: noted(input) }
    }

    /// The record of an error at the lead's step that the driver found (an action it did not
    /// hand over); takes its place in the lead's history sequence.
    pub fn note_error(&mut self, at: DateTime<Utc>, reason: Text) -> Record {
        self.seq += 1;
        Record { at, step: self.step.clone(), event: Event::Error { reason } }
    }

    /// The record of what a call's report says beyond its outcome (kept for people: `herald
    /// explain`, `export`), at the lead's step.
    pub fn note_call_report(
        &mut self,
        at: DateTime<Utc>,
        summary: Option<String>,
        transcript: Option<String>,
        recording_url: Option<String>,
    ) -> Record {
        self.seq += 1;
        let cut = |text: Option<String>| text.map(|t| Text::from(bounded_text(t)));
        let event =
            Event::CallReport { summary: cut(summary), transcript: cut(transcript), recording_url: cut(recording_url) };
        Record { at, step: self.step.clone(), event }
    }
}

/// The longest text a call report keeps per field, in characters; a longer one is cut, marked.
pub const MAX_REPORT_CHARS: usize = 100_000;

fn bounded_text(text: String) -> String {
    match text.char_indices().nth(MAX_REPORT_CHARS) {
        Some((end, _)) => format!("{}… (cut)", &text[..end]),
        None => text,
    }
}

fn noted(input: &Input) -> Event {
    match input {
        Input::Reply { text, intent, .. } => {
            Event::Reply { text: text.as_deref().map(Text::new), intent: intent.as_deref().map(Text::new) }
        }
        Input::Call { status, .. } | Input::Delivery { status } => Event::Outcome { status: Text::new(status) },
        Input::Event { name, .. } => Event::Event { name: Text::new(name) },
        Input::OptOut => Event::Event { name: "opt_out".into() },
        Input::Wake => Event::Event { name: "wake".into() },
    }
}
