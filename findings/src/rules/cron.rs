//! A cron schedule as the CronJob controller reads it (robfig/cron's standard parser): five
//! fields (minute hour day-of-month month day-of-week) with `*`, `?`, lists, ranges, steps,
//! month and weekday names, and the `@yearly`/`@monthly`/`@weekly`/`@daily`/`@hourly` macros.
//! When both day fields are restricted, a day matches either (cron's rule).
//!
//! Times are UTC; a CronJob with another `timeZone` is judged with a wider margin by the rule.

use crate::time::civil_from_days;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_star: bool,
    weekdays_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, names: &[&str], offset: u32) -> Option<u32> {
    if let Ok(n) = s.parse::<u32>() {
        return Some(n);
    }
    let lower = s.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .and_then(|p| u32::try_from(p).ok())
        .map(|p| p + offset)
}

/// Bits `lo..=hi` of one field; `None` when it does not parse.
fn field(spec: &str, lo: u32, hi: u32, names: &[&str], offset: u32) -> Option<(u64, bool)> {
    let mut bits = 0u64;
    let mut star = false;
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (r, st.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (a, b) = if range == "*" || range == "?" {
            star = star || step == 1;
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, offset)?, value(b, names, offset)?)
        } else {
            let a = value(range, names, offset)?;
            // "5/15" means from 5 to the end, every 15.
            (a, if part.contains('/') { hi } else { a })
        };
        // The weekday field (0-6) also accepts 7 for Sunday.
        let weekday = hi == 6;
        let top = if weekday { 7 } else { hi };
        let b = if weekday && (range == "*" || range == "?") {
            6
        } else {
            b
        };
        if a < lo || b > top || a > b {
            return None;
        }
        let mut v = a;
        while v <= b {
            bits |= 1 << (if weekday { v % 7 } else { v });
            v += step;
        }
    }
    Some((bits, star))
}

impl Schedule {
    /// Parses a schedule (a leading `CRON_TZ=…`/`TZ=…` is ignored: see the module docs).
    pub fn parse(spec: &str) -> Option<Schedule> {
        let mut spec = spec.trim();
        if spec.starts_with("CRON_TZ=") || spec.starts_with("TZ=") {
            spec = spec.split_once(' ')?.1.trim();
        }
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [mi, h, dom, mo, dow] = fields.as_slice() else {
            return None;
        };
        let (minutes, _) = field(mi, 0, 59, &[], 0)?;
        let (hours, _) = field(h, 0, 23, &[], 0)?;
        let (days, days_star) = field(dom, 1, 31, &[], 0)?;
        let (months, _) = field(mo, 1, 12, &MONTHS, 1)?;
        let (weekdays, weekdays_star) = field(dow, 0, 6, &WEEKDAYS, 0)?;
        Some(Schedule {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_star,
            weekdays_star,
        })
    }

    fn day_matches(&self, day: i64, weekday: i64) -> bool {
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first scheduled time strictly after `t` (unix seconds, UTC), within five years.
    pub fn next_after(&self, t: i64) -> Option<i64> {
        let mut t = (t.div_euclid(60) + 1) * 60;
        let limit = t + 5 * 366 * 86_400;
        while t < limit {
            let days = t.div_euclid(86_400);
            let (_, month, day) = civil_from_days(days);
            // 1970-01-01 was a Thursday.
            let weekday = (days + 4).rem_euclid(7);
            let secs = t.rem_euclid(86_400);
            if self.months & (1 << month) == 0 || !self.day_matches(day, weekday) {
                t = (days + 1) * 86_400;
                continue;
            }
            if self.hours & (1 << (secs / 3600)) == 0 {
                t = (t.div_euclid(3600) + 1) * 3600;
                continue;
            }
            if self.minutes & (1 << (secs / 60 % 60)) == 0 {
                t += 60;
                continue;
            }
            return Some(t);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{format_rfc3339, parse_rfc3339};

    fn next(spec: &str, after: &str) -> String {
        let s = Schedule::parse(spec).unwrap_or_else(|| panic!("{spec}"));
        format_rfc3339(s.next_after(parse_rfc3339(after).unwrap()).unwrap())
    }

    #[test]
    fn schedules() {
        assert_eq!(
            next("*/10 * * * *", "2026-11-27T06:03:10Z"),
            "2026-11-27T06:10:00Z"
        );
        assert_eq!(
            next("0 5 * * *", "2026-11-27T05:00:00Z"),
            "2026-11-28T05:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2026-11-27T23:30:00Z"),
            "2026-11-28T00:00:00Z"
        );
        // 2026-11-27 is a Friday.
        assert_eq!(
            next("30 2 * * mon-fri", "2026-11-27T03:00:00Z"),
            "2026-11-30T02:30:00Z"
        );
        assert_eq!(
            next("0 0 1 jan *", "2026-11-27T00:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-11-27T00:00:00Z"),
            "2026-11-29T00:00:00Z"
        );
        // Both day fields restricted: either matches (the 1st, or a Sunday).
        assert_eq!(
            next("0 0 1 * sun", "2026-11-27T00:00:00Z"),
            "2026-11-29T00:00:00Z"
        );
        assert_eq!(
            next("5/20 * * * *", "2026-11-27T06:26:00Z"),
            "2026-11-27T06:45:00Z"
        );
        assert_eq!(
            next("CRON_TZ=UTC 0 * * * *", "2026-11-27T06:26:00Z"),
            "2026-11-27T07:00:00Z"
        );
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "*/0 * * * *",
            "a b c d e",
            "0 0 31 2 * extra",
        ] {
            assert_eq!(Schedule::parse(bad), None, "{bad}");
        }
        // Parses but never happens (February 31st).
        let never = Schedule::parse("0 0 31 2 *").unwrap();
        assert_eq!(never.next_after(0), None);
    }
}
