//! What the live server queued, applied in one durable transaction per pass (group commit),
//! and each request answered only after that commit.

use crate::driver::apply::{Applier, Graphs, Rejected};
use crate::driver::arrival::{Arrival, Delivery, Verdict};
use crate::driver::error::RunError;

use super::Runner;

impl Runner<'_, '_> {
    /// Applies everything queued, stores it, then answers each request. A store that fails
    /// answers every queued request as unavailable (nothing of them was stored) and stops the
    /// run, as any failed write does.
    pub(super) fn apply_arrivals(&mut self) -> Result<(), RunError> {
        let Some(inbox) = self.inbox.clone() else { return Ok(()) };
        let deliveries = inbox.take();
        if deliveries.is_empty() {
            return Ok(());
        }
        match self.apply_all(&deliveries) {
            Ok(verdicts) => {
                for (delivery, verdicts) in deliveries.into_iter().zip(verdicts) {
                    // A client that went away does not mind: what it sent is stored.
                    let _ = delivery.reply.send(verdicts);
                }
                Ok(())
            }
            Err(error) => {
                unavailable(deliveries, &error.to_string());
                Err(error)
            }
        }
    }

    fn apply_all(&mut self, deliveries: &[Delivery]) -> Result<Vec<Vec<Verdict>>, RunError> {
        let graphs = self.campaigns.iter().map(|l| l.graph).collect();
        let mut applier = Applier::new(self.store, Graphs::Live(graphs))?;
        let now = self.clock.now();
        let mut all = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let mut verdicts = Vec::with_capacity(delivery.items.len());
            for item in &delivery.items {
                let id = item.id.as_deref();
                let result = match item.arrival.clone() {
                    Arrival::Event(event) => applier.event(event, id, false, now),
                    Arrival::Message(event) => applier.event(event, id, true, now),
                    Arrival::Outcome { key, input, at, notes } => {
                        let fallback;
                        let id = match id {
                            Some(id) => id,
                            None => {
                                fallback = outcome_id(&key, &input);
                                &fallback
                            }
                        };
                        applier.outcome(&key, input, at, notes, id)
                    }
                };
                verdicts.push(match result {
                    Ok(true) => Verdict::Applied,
                    Ok(false) => Verdict::Duplicate,
                    Err(Rejected::NotFound(reason)) => Verdict::NotFound(reason),
                    Err(Rejected::Content(reason)) => Verdict::Unprocessable(reason),
                    Err(Rejected::Store(error)) => return Err(error.into()),
                });
            }
            all.push(verdicts);
        }
        let suppressed = applier.suppressed().to_vec();
        applier.flush()?;
        self.withdraw(&suppressed);
        Ok(all)
    }

    /// Refuses further arrivals; answers those still queued as unavailable (the sender retries
    /// them with the next run).
    pub(super) fn close_inbox(&mut self) {
        if let Some(inbox) = &self.inbox {
            unavailable(inbox.close(), "herald is stopping; send it again");
        }
    }
}

fn unavailable(deliveries: Vec<Delivery>, reason: &str) {
    for delivery in deliveries {
        let verdicts = vec![Verdict::Unavailable(reason.to_string()); delivery.items.len()];
        let _ = delivery.reply.send(verdicts);
    }
}

/// The id of an outcome its sender gave none for: one per action and status.
fn outcome_id(key: &str, input: &crate::runtime::Input) -> String {
    let status = match input {
        crate::runtime::Input::Delivery { status } | crate::runtime::Input::Call { status, .. } => status.as_str(),
        _ => "",
    };
    format!("outcome:{key}:{status}")
}
