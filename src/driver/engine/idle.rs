//! What `run --once` says of a campaign it found nothing due in: when its next lead wakes, in
//! the campaign's timezone, and why it waits (the window, pacing, a wait, an await's timeout).

use chrono::{DateTime, Utc};

use super::Runner;
use crate::driver::error::RunError;
use crate::runtime::Event;

impl Runner<'_, '_> {
    /// One line per active campaign with no lead due now.
    pub(super) fn say_idle(&self) -> Result<(), RunError> {
        let now = self.clock.now();
        for live in self.campaigns.iter().filter(|l| l.active()) {
            let id = &live.graph.id;
            let Some(next) = self.store.next_due(id)? else { continue };
            if next <= now {
                continue;
            }
            let tz = live.graph.schedule.timezone;
            let when = next.with_timezone(&tz).format("%a %d %b %H:%M");
            let why = self.why_waiting(id, next)?.map(|w| format!(" ({w})")).unwrap_or_default();
            crate::say!("run: {id}: 0 due now; next at {when} {tz}{why}");
        }
        Ok(())
    }

    /// Why the first lead due at `next` waits, from its last history record.
    fn why_waiting(&self, campaign: &str, next: DateTime<Utc>) -> Result<Option<String>, RunError> {
        let Some((contact, _)) = self.store.due(campaign, next, None, 1)?.into_iter().next() else { return Ok(None) };
        let history = self.store.history(campaign, &contact.key)?;
        Ok(history.iter().rev().find_map(|record| match &record.event {
            Event::Defer { reason, .. } => Some(reason.to_string()),
            Event::Wait { .. } => Some(format!("a wait at `{}`", record.step.as_deref().unwrap_or("?"))),
            Event::Retry { attempt, .. } => {
                Some(format!("retry {attempt} at `{}`", record.step.as_deref().unwrap_or("?")))
            }
            Event::Enter if record.step.is_some() => {
                Some(format!("waiting at `{}`", record.step.as_deref().unwrap_or("?")))
            }
            _ => None,
        }))
    }
}
