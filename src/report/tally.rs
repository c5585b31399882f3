//! One pass over a campaign's leads and their histories: what each step saw, how calls went
//! per attempt, how each split's variants did. Leads are counted once per step (a lead that
//! loops through a step twice entered it once); time spent is counted per visit.

use std::collections::{BTreeMap, HashMap};

use crate::runtime::{Event, Lead, LeadStatus, Record};

/// Per step, how many leads did each thing there.
#[derive(Clone, Debug, Default)]
pub struct StepTally {
    pub entered: u64,
    pub acted: u64,
    pub delivered: u64,
    pub replied: u64,
    pub converted: u64,
    pub failed: u64,
    pub opted_out: u64,
    /// Seconds from entering the step to leaving it, one per finished visit.
    pub visits: Vec<f64>,
    /// The sum over leads of where this step first came in their path (for ordering steps).
    position: f64,
}

/// Per call attempt number.
#[derive(Clone, Debug, Default)]
pub struct AttemptTally {
    pub dialed: u64,
    /// Outcome status -> calls.
    pub outcomes: BTreeMap<String, u64>,
    /// Leads whose last call before their goal was met was this attempt.
    pub conversions: u64,
    /// Durations known for calls of this attempt (each lead keeps its last call's).
    pub durations: Vec<f64>,
}

/// Per variant of a split.
#[derive(Clone, Debug, Default)]
pub struct VariantTally {
    pub leads: u64,
    pub converted: u64,
    pub replied: u64,
}

#[derive(Debug, Default)]
pub struct Tally {
    pub leads: u64,
    pub statuses: BTreeMap<LeadStatus, u64>,
    /// (final status, reason) -> leads.
    pub exits: BTreeMap<(LeadStatus, String), u64>,
    steps: Vec<(String, StepTally)>,
    index: HashMap<String, usize>,
    pub attempts: BTreeMap<u32, AttemptTally>,
    /// Split step -> variant -> tally.
    pub splits: BTreeMap<String, BTreeMap<String, VariantTally>>,
}

/// What one lead did at one step, before it is added to the step's counts.
#[derive(Clone, Copy, Default)]
struct Seen {
    entered: bool,
    acted: bool,
    delivered: bool,
    replied: bool,
}

const DELIVERED: &[&str] = &["delivered", "opened", "clicked"];

impl Tally {
    pub fn add(&mut self, lead: &Lead, history: &[Record]) {
        self.leads += 1;
        *self.statuses.entry(lead.status).or_default() += 1;
        let mut seen: Vec<(usize, Seen)> = Vec::new();
        let mut visit: Option<(usize, chrono::DateTime<chrono::Utc>)> = None;
        let mut calls: Vec<u32> = Vec::new();
        let mut last_call = None;
        let mut replied = false;
        for record in history {
            let step = record.step.as_deref().map(|s| self.step_index(s));
            let mark = |seen: &mut Vec<(usize, Seen)>, f: fn(&mut Seen)| {
                if let Some(i) = step {
                    match seen.iter_mut().find(|(j, _)| *j == i) {
                        Some((_, s)) => f(s),
                        None => {
                            let mut s = Seen::default();
                            f(&mut s);
                            seen.push((i, s));
                        }
                    }
                }
            };
            match &record.event {
                Event::Enter => {
                    self.close(&mut visit, record.at);
                    visit = step.map(|i| (i, record.at));
                    mark(&mut seen, |s| s.entered = true);
                }
                Event::Send { .. } => mark(&mut seen, |s| s.acted = true),
                Event::Call { attempt, .. } => {
                    mark(&mut seen, |s| s.acted = true);
                    self.attempts.entry(*attempt).or_default().dialed += 1;
                    calls.push(*attempt);
                    last_call = Some(*attempt);
                }
                Event::Outcome { status } => {
                    if let Some(attempt) = calls.pop() {
                        *self.attempts.entry(attempt).or_default().outcomes.entry(status.to_string()).or_default() += 1;
                    } else if DELIVERED.contains(&status.as_str()) {
                        mark(&mut seen, |s| s.delivered = true);
                    }
                }
                Event::Reply { .. } => {
                    replied = true;
                    mark(&mut seen, |s| s.replied = true);
                }
                Event::Exit { lead_status, reason } => {
                    self.close(&mut visit, record.at);
                    *self.exits.entry((*lead_status, reason.as_deref().unwrap_or("").to_string())).or_default() += 1;
                    if let Some(i) = step {
                        let tally = &mut self.steps[i].1;
                        match lead_status {
                            LeadStatus::Converted => tally.converted += 1,
                            LeadStatus::Failed => tally.failed += 1,
                            LeadStatus::OptedOut => tally.opted_out += 1,
                            _ => {}
                        }
                    }
                    if *lead_status == LeadStatus::Converted
                        && let Some(attempt) = last_call
                    {
                        self.attempts.entry(attempt).or_default().conversions += 1;
                    }
                }
                _ => {}
            }
        }
        for (position, (i, s)) in seen.into_iter().enumerate() {
            let tally = &mut self.steps[i].1;
            tally.entered += u64::from(s.entered);
            tally.acted += u64::from(s.acted);
            tally.delivered += u64::from(s.delivered);
            tally.replied += u64::from(s.replied);
            tally.position += position as f64;
        }
        if let Some(call) = &lead.call
            && let Some(duration) = call.duration
            && call.attempt > 0
        {
            self.attempts.entry(call.attempt).or_default().durations.push(duration);
        }
        for (split, variant) in &lead.variants {
            let tally = self.splits.entry(split.clone()).or_default().entry(variant.clone()).or_default();
            tally.leads += 1;
            tally.converted += u64::from(lead.status == LeadStatus::Converted);
            tally.replied += u64::from(replied);
        }
    }

    fn step_index(&mut self, step: &str) -> usize {
        if let Some(&i) = self.index.get(step) {
            return i;
        }
        self.steps.push((step.to_string(), StepTally::default()));
        self.index.insert(step.to_string(), self.steps.len() - 1);
        self.steps.len() - 1
    }

    fn close(&mut self, visit: &mut Option<(usize, chrono::DateTime<chrono::Utc>)>, at: chrono::DateTime<chrono::Utc>) {
        if let Some((i, since)) = visit.take() {
            self.steps[i].1.visits.push((at - since).as_seconds_f64().max(0.0));
        }
    }

    /// The steps in the order leads meet them: by where they come in each lead's path, on
    /// average (the first step first), ties by name.
    pub fn steps(mut self) -> (Vec<(String, StepTally)>, Tally) {
        let mut steps = std::mem::take(&mut self.steps);
        let mean = |t: &StepTally| if t.entered == 0 { f64::MAX } else { t.position / t.entered as f64 };
        steps.sort_by(|(a, x), (b, y)| mean(x).total_cmp(&mean(y)).then_with(|| a.cmp(b)));
        (steps, self)
    }
}
