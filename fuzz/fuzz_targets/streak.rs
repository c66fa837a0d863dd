//! Streaks from arbitrary days, against their definitions.
//!
//! Input: 3 bytes per step. Byte 0: bit 0 adds (1) or removes (0) an entry
//! on the step's day, bits 1–2 pick an area of the calendar (an ordinary
//! one around a leap day, a year end, the first and the last days jiff can
//! represent); bytes 1–2: the day's offset in that area (0–511 days).
//!
//! Checked:
//! - after every step, the runs kept one change at a time with
//!   `Run::joined` and `Run::without`, the way both stores keep
//!   `streak_runs`, equal the runs `Streaks::from_days` builds from all the
//!   entries' days (in posting order, a day once per entry on it);
//! - at the end, against brute force: `streak_on` and `is_counted` of every
//!   counted day, its neighbours, the steps' days and the areas' edges;
//!   `longest`; `current` for each of those days as "today", and
//!   `Run::current` on the latest kept run likewise.
#![no_main]

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::{Date, date};
use libfuzzer_sys::fuzz_target;
use moodlog::domain::{Run, Streaks};

const AREA_DAYS: i64 = 512;

fn area_start(area: u8) -> Date {
    match area & 3 {
        0 => date(2023, 12, 1),
        1 => date(1969, 6, 1),
        2 => Date::MIN,
        _ => Date::MAX - (AREA_DAYS - 1).days(),
    }
}

fn day_of(area: u8, offset: u16) -> Date {
    area_start(area) + (i64::from(offset) % AREA_DAYS).days()
}

/// Runs kept the way the stores keep `streak_runs`: keyed by their last
/// day, changed only when a day starts or stops being counted.
#[derive(Default)]
struct KeptRuns {
    /// Entries per counted day (the stores' `entry_days`).
    entries: BTreeMap<Date, u32>,
    runs: BTreeMap<Date, Run>,
}

impl KeptRuns {
    /// As the stores ask: the first run ending on or after `day`, if it
    /// starts on or before it.
    fn containing(&self, day: Date) -> Option<Run> {
        let (_, run) = self.runs.range(day..).next()?;
        (run.start <= day).then_some(*run)
    }

    fn add(&mut self, day: Date) {
        let count = self.entries.entry(day).or_default();
        *count += 1;
        if *count > 1 {
            return;
        }
        let before = day
            .yesterday()
            .ok()
            .and_then(|y| self.containing(y).filter(|r| r.end == y));
        let after = day
            .tomorrow()
            .ok()
            .and_then(|t| self.containing(t).filter(|r| r.start == t));
        for gone in before.iter().chain(after.iter()) {
            self.runs.remove(&gone.end);
        }
        let run = Run::joined(before, day, after);
        assert!(run.start <= day && day <= run.end);
        self.runs.insert(run.end, run);
    }

    fn remove(&mut self, day: Date) {
        let Some(count) = self.entries.get_mut(&day) else {
            return;
        };
        *count -= 1;
        if *count > 0 {
            return;
        }
        self.entries.remove(&day);
        let run = self.containing(day).expect("a counted day is in a run");
        self.runs.remove(&run.end);
        for part in run.without(day).into_iter().flatten() {
            assert!(!(part.start <= day && day <= part.end));
            self.runs.insert(part.end, part);
        }
    }
}

/// Consecutive counted days ending on `day`, by counting back.
fn brute_streak(counted: &BTreeMap<Date, u32>, day: Date) -> u32 {
    let mut n = 0;
    let mut d = day;
    while counted.contains_key(&d) {
        n += 1;
        match d.yesterday() {
            Ok(y) => d = y,
            Err(_) => break,
        }
    }
    n
}

fn check(kept: &KeptRuns, posted: &[Date], probes: &[Date]) {
    let counted = &kept.entries;
    let streaks = Streaks::from_days(posted.iter().copied());

    // The runs: ascending, apart, and exactly what was kept step by step.
    let built = streaks.runs();
    for pair in built.windows(2) {
        assert!(pair[0].end.tomorrow().unwrap() < pair[1].start, "{pair:?}");
    }
    let kept_runs: Vec<Run> = kept.runs.values().copied().collect();
    assert_eq!(built, kept_runs.as_slice());

    // Each day's streak and whether it counts.
    let mut days: Vec<Date> = probes.to_vec();
    for &day in counted.keys() {
        days.push(day);
        days.extend(day.yesterday().ok());
        days.extend(day.tomorrow().ok());
    }
    for &day in &days {
        let expected = brute_streak(counted, day);
        assert_eq!(streaks.streak_on(day), expected, "streak on {day}");
        assert_eq!(streaks.is_counted(day), counted.contains_key(&day), "{day}");
        if let Some(run) = kept.containing(day) {
            assert_eq!(run.streak_on(day), expected, "run streak on {day}");
        }
    }

    // The longest run.
    let longest = counted
        .keys()
        .map(|&d| brute_streak(counted, d))
        .max()
        .unwrap_or(0);
    assert_eq!(streaks.longest(), longest);

    // The current streak: the latest counted day's, if that day is today or
    // later, or yesterday; else 0.
    let latest = counted.keys().next_back().copied();
    for &today in &days {
        let alive = latest.is_some_and(|l| today.yesterday().map_or(true, |y| l >= y));
        let expected = if alive {
            brute_streak(counted, latest.unwrap())
        } else {
            0
        };
        assert_eq!(streaks.current(today), expected, "current on {today}");
        let latest_kept = kept.runs.values().next_back().copied();
        assert_eq!(Run::current(latest_kept, today), expected, "kept, {today}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut kept = KeptRuns::default();
    let mut posted: Vec<Date> = Vec::new();
    let mut probes: Vec<Date> = Vec::new();
    for step in data.chunks_exact(3).take(300) {
        let area = step[0] >> 1;
        let day = day_of(area, u16::from_le_bytes([step[1], step[2]]));
        if step[0] & 1 == 1 {
            kept.add(day);
            posted.push(day);
        } else if kept.entries.contains_key(&day) {
            kept.remove(day);
            let at = posted.iter().position(|&d| d == day).unwrap();
            posted.remove(at);
        }
        let start = area_start(area);
        probes.extend([start, start + (AREA_DAYS - 1).days(), day]);
        // After every change, as a store would answer the next request.
        let built = Streaks::from_days(posted.iter().copied());
        let kept_runs: Vec<Run> = kept.runs.values().copied().collect();
        assert_eq!(built.runs(), kept_runs.as_slice(), "after {day}");
    }
    probes.sort();
    probes.dedup();
    check(&kept, &posted, &probes);
});
