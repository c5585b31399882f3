//! What conditions and templates read: the one implementation of the roots of
//! [`crate::vocab::Root`] that every evaluation uses. Conditions of the interpreter read a
//! lead; `contacts.where` reads the same scope before there is one (lead roots are `null`);
//! `--responses` rules add the attempt being made; templates read its template roots, as a
//! plain string where they can (no context built) and else as the full minijinja context.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value as Json, json};

use super::lead::Lead;
use crate::contact::{Column, Contact};
use crate::expr::{Path, Scope, Value};
use crate::graph::Graph;
use crate::vocab::{Field, Root};

/// The campaign as conditions and templates see it.
#[derive(Clone, Copy)]
pub struct Campaign<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The campaign's `data:`: each key is a root of its own.
    pub data: &'a Map<String, Json>,
}

impl<'a> Campaign<'a> {
    pub fn of(graph: &'a Graph) -> Campaign<'a> {
        Campaign { id: &graph.id, name: &graph.name, data: &graph.data }
    }
}

pub struct LeadScope<'a> {
    pub campaign: Campaign<'a>,
    pub contact: &'a Contact,
    /// `None` before the lead exists (`contacts.where` at import): its roots read `null`.
    pub lead: Option<&'a Lead>,
    /// The attempt being made, which `call.attempt` reads instead of the last call's
    /// (`--responses` rules answer an attempt before its outcome exists).
    pub attempt: Option<u32>,
    pub now: DateTime<Utc>,
    pub tz: Tz,
}

/// The contact's zone: its `timezone` column, else the campaign's.
pub fn timezone_of(graph: &Graph, contact: &Contact) -> Tz {
    contact.timezone.as_deref().and_then(|z| z.parse().ok()).unwrap_or(graph.schedule.timezone)
}

fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |s| Value::String(s.to_string()))
}

impl<'a> LeadScope<'a> {
    /// What a lead's conditions read.
    pub fn of(graph: &'a Graph, lead: &'a Lead, contact: &'a Contact, now: DateTime<Utc>, tz: Tz) -> LeadScope<'a> {
        LeadScope { campaign: Campaign::of(graph), contact, lead: Some(lead), attempt: None, now, tz }
    }

    /// What `contacts.where` reads: the contact and the campaign, no lead yet.
    pub fn before_lead(campaign: Campaign<'a>, contact: &'a Contact, now: DateTime<Utc>, tz: Tz) -> LeadScope<'a> {
        LeadScope { campaign, contact, lead: None, attempt: None, now, tz }
    }

    fn contact_value(&self, fields: &[String]) -> Value {
        let Some((name, rest)) = fields.split_first() else { return Value::Null };
        match self.contact.column(name) {
            Column::Value(value) => Value::from_json_path(value, rest),
            Column::Text(value) if rest.is_empty() => Value::String(value.to_string()),
            Column::Text(_) | Column::Missing => Value::Null,
        }
    }

    /// A fixed field of the vocabulary; every one has its value here.
    fn fixed(&self, field: Field) -> Value {
        let lead = self.lead;
        let reply = lead.and_then(|l| l.reply.as_ref());
        let call = lead.and_then(|l| l.call.as_ref());
        match field {
            Field::ReplyText => text(reply.and_then(|r| r.text.as_deref())),
            Field::ReplyIntent => text(reply.and_then(|r| r.intent.as_deref())),
            Field::ReplyChannel => text(reply.and_then(|r| r.channel.as_deref())),
            Field::ReplyAt => reply.and_then(|r| r.at).map_or(Value::Null, Value::DateTime),
            Field::ReplyTimedOut => lead.map_or(Value::Null, |_| Value::Bool(reply.is_some_and(|r| r.timed_out))),
            Field::CallStatus => text(call.and_then(|c| c.status.as_deref())),
            Field::CallDuration => call.and_then(|c| c.duration).map_or(Value::Null, Value::Number),
            Field::CallAttempt => match self.attempt {
                Some(attempt) => Value::Number(f64::from(attempt)),
                None => call.map_or(Value::Null, |c| Value::Number(f64::from(c.attempt))),
            },
            Field::MessageStatus => text(lead.and_then(|l| l.message_status.as_deref())),
            Field::LeadStatus => lead.map_or(Value::Null, |l| Value::String(l.status.as_str().to_string())),
            Field::LeadStep => text(lead.and_then(|l| l.step.as_deref())),
            Field::LeadAttempts => lead.map_or(Value::Null, |l| Value::Number(f64::from(l.attempts))),
            Field::LeadEnteredAt => lead.map_or(Value::Null, |l| Value::DateTime(l.entered_at)),
            Field::CampaignId => Value::String(self.campaign.id.to_string()),
            Field::CampaignName => Value::String(self.campaign.name.to_string()),
            // Templates only: a condition cannot name `step`.
            Field::StepId | Field::StepName => Value::Null,
        }
    }
}

impl Scope for LeadScope<'_> {
    fn get(&self, path: &Path) -> Value {
        let field = path.fields.first().map_or("", String::as_str);
        let Some(root) = Root::parse(&path.root).filter(|r| r.in_conditions()) else {
            return self.campaign.data.get(&path.root).map_or(Value::Null, |v| Value::from_json_path(v, &path.fields));
        };
        match root {
            Root::Contact => self.contact_value(&path.fields),
            Root::Vars => self
                .lead
                .and_then(|l| l.vars.get(field))
                .map_or(Value::Null, |v| Value::from_json_path(v, &path.fields[1..])),
            Root::Events => self.lead.and_then(|l| l.event_at(field)).map_or(Value::Null, Value::DateTime),
            Root::Variant => {
                self.lead.and_then(|l| l.variants.get(field)).map_or(Value::Null, |v| Value::String(v.clone()))
            }
            // The evaluator reads these itself.
            Root::Now | Root::Today | Root::Step => Value::Null,
            Root::Reply | Root::Call | Root::Message | Root::Lead | Root::Campaign => {
                Field::find(root, field).map_or(Value::Null, |f| self.fixed(f))
            }
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn timezone(&self) -> Tz {
        self.tz
    }
}

/// The step a template is rendered for: its id and name.
pub type StepNames<'a> = (&'a str, Option<&'a str>);

impl<'a> LeadScope<'a> {
    /// A string of the template context without building it (see `template_context`): `None`
    /// for anything else, which the engine then renders.
    pub fn template_text(
        &self,
        (step_id, step_name): StepNames<'a>,
        root: &str,
        field: Option<&str>,
    ) -> Option<&'a str> {
        let (contact, campaign) = (self.contact, self.campaign);
        match (Root::parse(root).filter(|r| r.in_templates()), field) {
            (Some(Root::Contact), Some(field)) => match contact.column(field) {
                Column::Value(value) => value.as_str(),
                Column::Text(text) => Some(text),
                Column::Missing => None,
            },
            (Some(Root::Vars), Some(field)) => self.lead?.vars.get(field)?.as_str(),
            (Some(Root::Campaign), Some("id")) => Some(campaign.id),
            (Some(Root::Campaign), Some("name")) => Some(campaign.name),
            (Some(Root::Step), Some("id")) => Some(step_id),
            (Some(Root::Step), Some("name")) => Some(step_name.unwrap_or(step_id)),
            (Some(_), _) => None,
            (None, Some(field)) => campaign.data.get(root)?.get(field)?.as_str(),
            (None, None) => campaign.data.get(root)?.as_str(),
        }
    }

    /// The roots a template renders with.
    pub fn template_context(&self, (step_id, step_name): StepNames<'_>) -> Json {
        let contact = self.contact;
        let mut root: Map<String, Json> = self.campaign.data.clone();
        let mut fields = contact.fields.to_map();
        fields.entry("key").or_insert_with(|| Json::String(contact.key.clone()));
        if let Some(zone) = &contact.timezone {
            fields.entry("timezone").or_insert_with(|| Json::String(zone.clone()));
        }
        root.insert(Root::Contact.as_str().into(), Json::Object(fields));
        root.insert(Root::Vars.as_str().into(), Json::Object(self.lead.map(|l| l.vars.clone()).unwrap_or_default()));
        let (id, name) = (Field::CampaignId.as_str(), Field::CampaignName.as_str());
        root.insert(Root::Campaign.as_str().into(), json!({ id: self.campaign.id, name: self.campaign.name }));
        let (id, name) = (Field::StepId.as_str(), Field::StepName.as_str());
        root.insert(Root::Step.as_str().into(), json!({ id: step_id, name: step_name.unwrap_or(step_id) }));
        Json::Object(root)
    }
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
