//! Local time: schedule windows and `wait: {until: "HH:MM"}`, DST-safe.
//!
//! A local time inside a spring-forward gap means the first instant after the gap; inside a
//! fall-back fold, the earlier instant.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::graph::{Quiet, Schedule};

/// How many quiet periods `next_open` steps over before it gives up: a window that opens only
/// inside the quiet hours never opens.
const QUIET_STEPS: usize = 64;

/// The instant of a local wall-clock time.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => first_after_gap(tz, local),
    }
}

/// The transition instant that skipped `local`: the offset before the gap maps `local` to an
/// instant past the transition, so walk back to the first minute that exists.
fn first_after_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut at = local;
    for _ in 0..=24 * 60 {
        at += TimeDelta::minutes(1);
        if let Some(t) = tz.from_local_datetime(&at).earliest() {
            let mut t = t.with_timezone(&Utc);
            // Step back to the exact transition (gaps start on whole minutes in every zone).
            while tz.from_utc_datetime(&(t - TimeDelta::minutes(1)).naive_utc()).naive_local() >= local
                && t - TimeDelta::minutes(1) > DateTime::<Utc>::MIN_UTC
            {
                t -= TimeDelta::minutes(1);
            }
            return t;
        }
    }
    Utc.from_utc_datetime(&local)
}

/// Start of a local day.
fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    resolve(tz, date.and_time(NaiveTime::MIN))
}

/// The first instant at or after `now` when the window is open and the policy's quiet hours
/// are not, looking up to two weeks ahead; `None` if it never opens (`check` refuses such
/// schedules; quiet hours covering every open hour are the policy's doing).
pub fn next_open(schedule: &Schedule, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Every local day is open from its start to the next day's start, and `now` is in one.
    let open = if schedule.always_open() { now } else { scan(schedule, tz, now)? };
    match &schedule.quiet {
        None => Some(open),
        Some(quiet) => past_quiet(schedule, quiet, tz, open),
    }
}

/// Whether the policy's quiet hours, and only they, keep an action from acting at `now`: the
/// window alone would let it.
pub fn quiet_now(schedule: &Schedule, tz: Tz, now: DateTime<Utc>) -> bool {
    schedule.quiet.is_some_and(|quiet| quiet.holds(now.with_timezone(&tz).time()))
        && (schedule.always_open() || scan(schedule, tz, now) == Some(now))
}

/// From an instant the window is open, the first one outside the quiet hours at which the
/// window is still (or again) open.
fn past_quiet(schedule: &Schedule, quiet: &Quiet, tz: Tz, mut at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    for _ in 0..QUIET_STEPS {
        if !quiet.holds(at.with_timezone(&tz).time()) {
            return Some(at);
        }
        let end = quiet_end(tz, quiet.end, at);
        at = if schedule.always_open() { end } else { scan(schedule, tz, end)? };
    }
    None
}

/// The first instant after `now` when the local clock shows `end`. Unlike `next_local_time`,
/// in a fall-back fold the later of the two instants counts too: quiet hours that end at 01:30
/// end at the second 01:30 for a lead that wakes between the two.
fn quiet_end(tz: Tz, end: NaiveTime, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    for d in 0..=2 {
        let local = (today + TimeDelta::days(d)).and_time(end);
        let found = match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => [Some(t.with_timezone(&Utc)), None],
            LocalResult::Ambiguous(a, b) => [Some(a.with_timezone(&Utc)), Some(b.with_timezone(&Utc))],
            LocalResult::None => [Some(first_after_gap(tz, local)), None],
        };
        if let Some(t) = found.into_iter().flatten().find(|t| *t > now) {
            return t;
        }
    }
    now + TimeDelta::days(1)
}

/// `next_open` by looking at each day's windows in turn.
fn scan(schedule: &Schedule, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&tz).date_naive();
    for offset in 0..=15 {
        let date = today + TimeDelta::days(offset);
        if !schedule.days[date.weekday().num_days_from_monday() as usize] {
            continue;
        }
        let next_day = day_start(tz, date + TimeDelta::days(1));
        let mut best: Option<DateTime<Utc>> = None;
        for window in &schedule.hours {
            let open = resolve(tz, date.and_time(window.open));
            let close = window.close.map_or(next_day, |c| resolve(tz, date.and_time(c)));
            if close > now && open < close {
                let start = open.max(now);
                best = Some(best.map_or(start, |b| b.min(start)));
            }
        }
        if best.is_some() {
            return best;
        }
    }
    None
}

/// The next time the local clock shows `time`, strictly after `now`.
pub fn next_local_time(tz: Tz, time: NaiveTime, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    (0..=2)
        .map(|d| resolve(tz, (today + TimeDelta::days(d)).and_time(time)))
        .find(|t| *t > now)
        .unwrap_or(now + TimeDelta::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Window;

    fn tz(name: &str) -> Tz {
        name.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn weekdays_9_to_17(zone: &str) -> Schedule {
        Schedule {
            timezone: tz(zone),
            hours: vec![Window {
                open: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                close: NaiveTime::from_hms_opt(17, 0, 0),
            }],
            days: [true, true, true, true, true, false, false],
            start: None,
            end: None,
            quiet: None,
        }
    }

    #[test]
    fn inside_the_window_is_now() {
        let s = weekdays_9_to_17("America/New_York");
        let now = at("2026-12-01T15:00:00Z"); // Tue 10:00 local
        assert_eq!(next_open(&s, s.timezone, now), Some(now));
    }

    #[test]
    fn friday_evening_defers_to_monday_morning() {
        let s = weekdays_9_to_17("America/New_York");
        let friday_evening = at("2026-12-04T23:30:00Z"); // Fri 18:30 local
        assert_eq!(next_open(&s, s.timezone, friday_evening), Some(at("2026-12-07T14:00:00Z")));
    }

    #[test]
    fn spring_forward_gap_opens_at_the_first_instant_after() {
        // 2027-03-14 New York: 02:00 -> 03:00. A window opening at 02:30 opens at 03:00 EDT.
        let mut s = weekdays_9_to_17("America/New_York");
        s.days = [true; 7];
        s.hours = vec![Window { open: NaiveTime::from_hms_opt(2, 30, 0).unwrap(), close: None }];
        let night = at("2027-03-14T05:00:00Z"); // 00:00 EST
        assert_eq!(next_open(&s, s.timezone, night), Some(at("2027-03-14T07:00:00Z")));
        let t = next_local_time(s.timezone, NaiveTime::from_hms_opt(2, 30, 0).unwrap(), night);
        assert_eq!(t, at("2027-03-14T07:00:00Z"));
    }

    #[test]
    fn fall_back_fold_takes_the_earlier_instant() {
        // 2026-11-01 New York: 01:30 happens twice; the first is EDT (05:30Z).
        let t = next_local_time(
            tz("America/New_York"),
            NaiveTime::from_hms_opt(1, 30, 0).unwrap(),
            at("2026-11-01T04:00:00Z"),
        );
        assert_eq!(t, at("2026-11-01T05:30:00Z"));
    }

    fn quiet(start: u32, end: (u32, u32)) -> Option<Quiet> {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        Some(Quiet { start: t(start, 0), end: t(end.0, end.1) })
    }

    #[test]
    fn quiet_hours_hold_to_their_local_end_across_midnight_and_dst() {
        let s = Schedule { timezone: tz("America/New_York"), quiet: quiet(21, (8, 0)), ..Schedule::default() };
        let ny = s.timezone;
        // Outside: at once.
        assert_eq!(next_open(&s, ny, at("2026-12-01T15:00:00Z")), Some(at("2026-12-01T15:00:00Z")));
        // Sat 22:00 EDT before the fall back: Sunday 08:00 EST.
        assert_eq!(next_open(&s, ny, at("2026-11-01T02:00:00Z")), Some(at("2026-11-01T13:00:00Z")));
        // Sat 23:00 EST before the spring forward: Sunday 08:00 EDT.
        assert_eq!(next_open(&s, ny, at("2027-03-14T04:00:00Z")), Some(at("2027-03-14T12:00:00Z")));
        assert!(quiet_now(&s, ny, at("2027-03-14T04:00:00Z")));
        assert!(!quiet_now(&s, ny, at("2027-03-14T12:00:00Z")));
    }

    #[test]
    fn quiet_hours_ending_in_the_repeated_hour_end_at_its_second_pass_too() {
        // 2026-11-01 New York: 01:00-02:00 happens twice. Quiet until 01:30: a lead at the
        // second 01:00 (06:00Z, EST) waits for the second 01:30 (06:30Z), not a whole day.
        let s = Schedule { timezone: tz("America/New_York"), quiet: quiet(21, (1, 30)), ..Schedule::default() };
        assert_eq!(next_open(&s, s.timezone, at("2026-11-01T04:00:00Z")), Some(at("2026-11-01T05:30:00Z")));
        assert_eq!(next_open(&s, s.timezone, at("2026-11-01T06:00:00Z")), Some(at("2026-11-01T06:30:00Z")));
    }

    #[test]
    fn quiet_hours_inside_a_window_push_to_the_next_open_instant_outside_both() {
        // Window 07:00-09:00 and 20:00-22:00 on weekdays; quiet 21:00-08:00. Friday 21:30
        // EST: the window is open but quiet; 08:00 Saturday is no weekday: Monday 08:00.
        let mut s = weekdays_9_to_17("America/New_York");
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        s.hours = vec![Window { open: t(7), close: Some(t(9)) }, Window { open: t(20), close: Some(t(22)) }];
        s.quiet = quiet(21, (8, 0));
        let friday = at("2026-12-05T02:30:00Z");
        assert!(quiet_now(&s, s.timezone, friday));
        assert_eq!(next_open(&s, s.timezone, friday), Some(at("2026-12-07T13:00:00Z")));
        // Monday 07:30: the window is open, the policy holds it; 06:00 the window is closed.
        assert!(quiet_now(&s, s.timezone, at("2026-12-07T12:30:00Z")));
        assert!(!quiet_now(&s, s.timezone, at("2026-12-07T11:00:00Z")));
        // A window only inside the quiet hours never opens.
        s.hours = vec![Window { open: t(22), close: Some(t(23)) }];
        assert_eq!(next_open(&s, s.timezone, friday), None);
    }

    #[test]
    fn never_open_is_none() {
        let mut s = weekdays_9_to_17("Europe/Paris");
        s.days = [false; 7];
        assert_eq!(next_open(&s, s.timezone, at("2026-12-01T00:00:00Z")), None);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        const ZONES: &[&str] = &[
            "America/New_York",
            "Europe/London",
            "Europe/Paris",
            "Australia/Sydney",
            "Australia/Lord_Howe",
            "America/Santiago",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "UTC",
            "America/Sao_Paulo",
        ];

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3_000))]

            /// The default, always-open schedule answers `now` without scanning, as the scan
            /// would.
            #[test]
            fn always_open_is_now(zone in 0..ZONES.len(), secs in 1_600_000_000i64..2_100_000_000i64) {
                let tz = tz(ZONES[zone]);
                let s = Schedule { timezone: tz, ..Schedule::default() };
                prop_assert!(s.always_open());
                let now = DateTime::from_timestamp(secs, 0).unwrap();
                prop_assert_eq!(next_open(&s, tz, now), Some(now));
                prop_assert_eq!(scan(&s, tz, now), Some(now));
            }

            /// Across years, zones and DST days: the answer is at or after now, inside the
            /// window by the local clock (or at the first instant after a gap that swallowed
            /// the opening), on an allowed day, and no earlier open instant was missed.
            #[test]
            fn next_open_is_the_first_open_instant(
                zone in 0..ZONES.len(),
                secs in 1_600_000_000i64..2_100_000_000i64,
                open_h in 0u32..23, len_h in 1u32..10, days in 1u8..128,
            ) {
                let tz = tz(ZONES[zone]);
                let open = NaiveTime::from_hms_opt(open_h, 0, 0).unwrap();
                let close_h = open_h + len_h;
                let close = if close_h >= 24 { None } else { NaiveTime::from_hms_opt(close_h, 0, 0) };
                let mut allowed = [false; 7];
                for (i, a) in allowed.iter_mut().enumerate() { *a = days & (1 << i) != 0; }
                let s = Schedule { timezone: tz, hours: vec![Window { open, close }], days: allowed, start: None, end: None, quiet: None };
                let now = DateTime::from_timestamp(secs, 0).unwrap();
                let found = next_open(&s, tz, now);
                prop_assert!(found.is_some());
                let found = found.unwrap();
                prop_assert!(found >= now);
                let is_open = |t: DateTime<Utc>| {
                    let local = t.with_timezone(&tz);
                    let date = local.date_naive();
                    let day_ok = allowed[date.weekday().num_days_from_monday() as usize];
                    let o = resolve(tz, date.and_time(open));
                    let c = close.map_or_else(|| day_start(tz, date + TimeDelta::days(1)), |c| resolve(tz, date.and_time(c)));
                    day_ok && t >= o && t < c
                };
                prop_assert!(is_open(found), "{found} local {}", found.with_timezone(&tz));
                // Nothing open between now and the answer, checked every 30 minutes.
                let mut t = now;
                while t + TimeDelta::minutes(30) < found {
                    t += TimeDelta::minutes(30);
                    prop_assert!(!is_open(t), "open at {t} before {found}");
                }
            }
        }
    }
}
