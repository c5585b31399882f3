//! How many leads are due by a time, for `status`: a range scan over the due index's keys,
//! with no lead row read or decoded.

use chrono::{DateTime, Utc};

use super::write::DueKey;
use super::{At, DUE, Store, StoreError, wake_parts};

impl Store {
    /// The campaign's unfinished leads due at or before `until`, overdue ones included.
    pub fn due_count(&self, campaign: &str, until: DateTime<Utc>) -> Result<u64, StoreError> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let p = &self.path;
        let table = self.db.begin_read().at(p)?.open_table(DUE).at(p)?;
        let (secs, nanos) = wake_parts(until);
        let start = Included((campaign, i64::MIN, 0, ""));
        let end = if nanos == u32::MAX { Unbounded } else { Excluded((campaign, secs, nanos + 1, "")) };
        let mut count = 0;
        for row in table.range::<DueKey>((start, end)).at(p)? {
            let (key, _) = row.at(p)?;
            if key.value().0 != campaign {
                break;
            }
            count += 1;
        }
        Ok(count)
    }
}
