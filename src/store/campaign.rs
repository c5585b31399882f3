//! A campaign's record in the store: its status, content hash and what later commands need.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Stored as JSON: a field added later has a default, so older records read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub id: String,
    pub name: String,
    pub status: CampaignStatus,
    pub content_hash: String,
    pub started_at: Option<DateTime<Utc>>,
    /// The campaign file as last run (absolute), for `ingest` to advance its leads.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Action starts of the last hour, per minute, so that `per_hour` holds across processes
    /// (`CampaignPacer::recent`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pace: Vec<(DateTime<Utc>, u32)>,
    /// The same for each `pacing.channels` or step limit with `per_hour`, by its name
    /// (`channel voice`, `step remind`; `CampaignPacer::recent_narrow`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pace_narrow: BTreeMap<String, Vec<(DateTime<Utc>, u32)>>,
    /// `contacts.region`: commands that name a contact read its national numbers there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Running,
    Paused,
    Completed,
    Cancelled,
}
