//! Streaks: runs of consecutive calendar days on which a user logged a mood.
//!
//! Everything here is derived from the set of counted days alone, so the
//! order in which entries were posted, back-filled or deleted never matters.
//! Day arithmetic is on civil dates: months, leap days and daylight-saving
//! changes need no special case.

use jiff::civil::Date;

/// A maximal run of consecutive counted days, `start..=end`.
///
/// The stores also keep each user's runs (`streak_runs`), so that a write
/// finds the streaks it answers with in two or three runs, however long
/// the user's history: see `joined` and `without`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: Date,
    pub end: Date,
}

impl Run {
    /// How many days the run holds.
    pub fn days(self) -> u32 {
        days_between(self.start, self.end) + 1
    }

    /// Consecutive counted days ending on `day`, if the run holds `day`.
    pub fn streak_on(self, day: Date) -> u32 {
        if self.start <= day && day <= self.end {
            days_between(self.start, day) + 1
        } else {
            0
        }
    }

    /// The run a newly counted `day` makes with the run ending the day
    /// before and the run starting the day after, if there are such; the
    /// three are replaced by it.
    pub fn joined(before: Option<Run>, day: Date, after: Option<Run>) -> Run {
        Run {
            start: before.map_or(day, |r| r.start),
            end: after.map_or(day, |r| r.end),
        }
    }

    /// What is left of this run, either side, when `day` (in it) stops
    /// being counted.
    pub fn without(self, day: Date) -> [Option<Run>; 2] {
        let part = |start: Option<Date>, end: Option<Date>| match (start, end) {
            (Some(start), Some(end)) if start <= end => Some(Run { start, end }),
            _ => None,
        };
        [
            part(Some(self.start), day.yesterday().ok()),
            part(day.tomorrow().ok(), Some(self.end)),
        ]
    }

    /// The streak still alive on `today`, given the user's latest run: its
    /// length if it ends today (or later), or yesterday; otherwise 0.
    pub fn current(latest: Option<Run>, today: Date) -> u32 {
        let Some(last) = latest else {
            return 0;
        };
        let alive = match today.yesterday() {
            Ok(yesterday) => last.end >= yesterday,
            Err(_) => true,
        };
        if alive { last.days() } else { 0 }
    }
}

/// Whole days from `from` to `to` (`to >= from`).
fn days_between(from: Date, to: Date) -> u32 {
    let days = from.duration_until(to).as_secs() / 86_400;
    u32::try_from(days).expect("runs are built in ascending order")
}

/// A date as an integer that sorts like it: year, month, day in bit fields
/// (jiff's years are -9999..=9999).
fn pack(day: Date) -> u32 {
    let year = u32::try_from(i32::from(day.year()) + 10_000).expect("jiff years are > -10000");
    year << 9 | u32::from(day.month().unsigned_abs()) << 5 | u32::from(day.day().unsigned_abs())
}

fn unpack(key: u32) -> Date {
    let year = i16::try_from(i64::from(key >> 9) - 10_000).expect("packed from a year");
    let month = i8::try_from(key >> 5 & 0xf).expect("4 bits");
    let day = i8::try_from(key & 0x1f).expect("5 bits");
    Date::new(year, month, day).expect("packed from a valid date")
}

/// The streak figures of one user, computed from the days they logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Streaks {
    /// Ascending, non-overlapping and non-adjacent.
    runs: Vec<Run>,
}

impl Streaks {
    /// Builds the runs from counted days given in any order, duplicates allowed.
    pub fn from_days(days: impl IntoIterator<Item = Date>) -> Self {
        // Sorted as packed integers: comparing `Date`s field by field made
        // a shuffled ten years take ~100 µs, this ~40 µs (benches/streak.rs).
        let mut keys: Vec<u32> = days.into_iter().map(pack).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut runs: Vec<Run> = Vec::new();
        for day in keys.into_iter().map(unpack) {
            match runs.last_mut() {
                Some(run) if run.end.tomorrow().ok() == Some(day) => run.end = day,
                _ => runs.push(Run {
                    start: day,
                    end: day,
                }),
            }
        }
        Self { runs }
    }

    /// The runs, ascending, none overlapping or adjacent (what the stores
    /// keep in `streak_runs`; the fuzzer compares the two).
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// The run containing `day`, if `day` is counted.
    fn run_containing(&self, day: Date) -> Option<Run> {
        let after = self.runs.partition_point(|run| run.start <= day);
        let run = *self.runs.get(after.checked_sub(1)?)?;
        (day <= run.end).then_some(run)
    }

    /// The number of consecutive counted days ending on `day` (0 if `day`
    /// itself is not counted). This is an entry's `streak`.
    pub fn streak_on(&self, day: Date) -> u32 {
        self.run_containing(day).map_or(0, |run| run.streak_on(day))
    }

    /// Whether the user logged anything on `day`.
    pub fn is_counted(&self, day: Date) -> bool {
        self.run_containing(day).is_some()
    }

    /// The streak still alive on `today`: the streak of the latest counted
    /// day if that day is `today` (or later), or yesterday; otherwise 0.
    pub fn current(&self, today: Date) -> u32 {
        Run::current(self.runs.last().copied(), today)
    }

    /// The longest run of consecutive counted days ever.
    pub fn longest(&self) -> u32 {
        self.runs.iter().map(|run| run.days()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn streaks(days: &[Date]) -> Streaks {
        Streaks::from_days(days.iter().copied())
    }

    #[test]
    fn packed_dates_sort_like_dates_and_unpack_to_themselves() {
        let days = [
            Date::MIN,
            date(-1, 12, 31),
            date(0, 1, 1),
            date(1999, 12, 31),
            date(2000, 1, 1),
            date(2024, 2, 29),
            date(2024, 3, 1),
            Date::MAX,
        ];
        for pair in days.windows(2) {
            assert!(pack(pair[0]) < pack(pair[1]), "{pair:?}");
        }
        for day in days {
            assert_eq!(unpack(pack(day)), day);
        }
    }

    #[test]
    fn api_example_mar_1_2_3_and_5() {
        let s = streaks(&[
            date(2026, 3, 1),
            date(2026, 3, 2),
            date(2026, 3, 3),
            date(2026, 3, 5),
        ]);
        assert_eq!(s.streak_on(date(2026, 3, 1)), 1);
        assert_eq!(s.streak_on(date(2026, 3, 2)), 2);
        assert_eq!(s.streak_on(date(2026, 3, 3)), 3);
        assert_eq!(s.streak_on(date(2026, 3, 4)), 0);
        assert_eq!(s.streak_on(date(2026, 3, 5)), 1);
        assert_eq!(s.longest(), 3);
    }

    #[test]
    fn several_entries_on_one_day_count_once() {
        let s = streaks(&[
            date(2026, 3, 2),
            date(2026, 3, 3),
            date(2026, 3, 3),
            date(2026, 3, 3),
        ]);
        assert_eq!(s.streak_on(date(2026, 3, 3)), 2);
        assert_eq!(s.longest(), 2);
        assert_eq!(s.current(date(2026, 3, 3)), 2);
    }

    #[test]
    fn posting_order_never_matters() {
        let ordered = streaks(&[date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)]);
        let shuffled = streaks(&[date(2026, 1, 3), date(2026, 1, 1), date(2026, 1, 2)]);
        assert_eq!(ordered, shuffled);
        assert_eq!(shuffled.streak_on(date(2026, 1, 3)), 3);
    }

    #[test]
    fn back_filling_a_missed_day_joins_two_runs() {
        let mut days = vec![date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 4)];
        assert_eq!(streaks(&days).streak_on(date(2026, 3, 4)), 1);
        days.push(date(2026, 3, 3));
        let s = streaks(&days);
        assert_eq!(s.streak_on(date(2026, 3, 4)), 4);
        assert_eq!(s.longest(), 4);
    }

    #[test]
    fn deleting_a_day_splits_a_run() {
        let mut days = vec![
            date(2026, 3, 1),
            date(2026, 3, 2),
            date(2026, 3, 3),
            date(2026, 3, 4),
        ];
        days.retain(|d| *d != date(2026, 3, 2));
        let s = streaks(&days);
        assert_eq!(s.streak_on(date(2026, 3, 1)), 1);
        assert_eq!(s.streak_on(date(2026, 3, 4)), 2);
        assert_eq!(s.longest(), 2);
    }

    #[test]
    fn runs_cross_month_and_year_ends() {
        let s = streaks(&[
            date(2025, 12, 30),
            date(2025, 12, 31),
            date(2026, 1, 1),
            date(2026, 1, 31),
            date(2026, 2, 1),
            date(2026, 4, 30),
            date(2026, 5, 1),
        ]);
        assert_eq!(s.streak_on(date(2026, 1, 1)), 3);
        assert_eq!(s.streak_on(date(2026, 2, 1)), 2);
        assert_eq!(s.streak_on(date(2026, 5, 1)), 2);
    }

    #[test]
    fn leap_days_are_ordinary_days() {
        let leap = streaks(&[date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]);
        assert_eq!(leap.streak_on(date(2024, 3, 1)), 3);
        // 2025 has no Feb 29: Feb 28 and Mar 1 are consecutive.
        let common = streaks(&[date(2025, 2, 28), date(2025, 3, 1)]);
        assert_eq!(common.streak_on(date(2025, 3, 1)), 2);
        // ...but in 2024 they are not.
        let gap = streaks(&[date(2024, 2, 28), date(2024, 3, 1)]);
        assert_eq!(gap.streak_on(date(2024, 3, 1)), 1);
    }

    #[test]
    fn daylight_saving_weeks_are_seven_days() {
        // US spring-forward (Mar 8 2026) and EU fall-back (Oct 25 2026) weeks.
        for first in [date(2026, 3, 5), date(2026, 10, 22)] {
            let days: Vec<Date> = first.series(jiff::ToSpan::days(1)).take(7).collect();
            let s = streaks(&days);
            assert_eq!(s.streak_on(days[6]), 7);
            assert_eq!(s.current(days[6]), 7);
        }
    }

    #[test]
    fn yesterday_keeps_the_streak_alive() {
        let s = streaks(&[date(2026, 3, 1), date(2026, 3, 2)]);
        assert_eq!(s.current(date(2026, 3, 2)), 2, "logged today");
        assert_eq!(s.current(date(2026, 3, 3)), 2, "logged yesterday");
        assert!(!s.is_counted(date(2026, 3, 3)));
        assert!(s.is_counted(date(2026, 3, 2)));
    }

    #[test]
    fn a_stale_run_gives_zero() {
        let s = streaks(&[date(2026, 3, 1), date(2026, 3, 2)]);
        assert_eq!(s.current(date(2026, 3, 4)), 0);
        assert_eq!(s.longest(), 2);
        assert_eq!(Streaks::default().current(date(2026, 3, 4)), 0);
        assert_eq!(Streaks::default().longest(), 0);
    }

    #[test]
    fn a_day_later_than_today_counts_as_current() {
        // An entry made in a zone ahead of the profile's can be on "tomorrow".
        let s = streaks(&[date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]);
        assert_eq!(s.current(date(2026, 3, 2)), 3);
    }

    /// The streak of `day` by definition: count back while days are counted.
    fn brute_force_streak(days: &[Date], day: Date) -> u32 {
        let mut count = 0;
        let mut d = day;
        while days.contains(&d) {
            count += 1;
            d = d.yesterday().unwrap();
        }
        count
    }

    fn any_date() -> impl Strategy<Value = Date> {
        // Around two leap years and a year end, densely enough to form runs.
        (0i64..120).prop_map(|n| date(2023, 12, 1) + jiff::ToSpan::days(n))
    }

    /// Runs kept the way the stores keep them, changed by `joined` and
    /// `without` one counted day at a time, keyed by their last day.
    #[derive(Default)]
    struct KeptRuns {
        entries: std::collections::BTreeMap<Date, u32>,
        runs: std::collections::BTreeMap<Date, Run>,
    }

    impl KeptRuns {
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
                .and_then(|d| self.runs.get(&d).copied());
            let after = day
                .tomorrow()
                .ok()
                .and_then(|d| self.containing(d).filter(|r| r.start == d));
            for gone in before.iter().chain(after.iter()) {
                self.runs.remove(&gone.end);
            }
            let run = Run::joined(before, day, after);
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
                self.runs.insert(part.end, part);
            }
        }
    }

    proptest! {
        #[test]
        fn runs_kept_one_day_at_a_time_match_runs_built_from_all_days(
            steps in proptest::collection::vec((any::<bool>(), 0..40i64), 0..120),
        ) {
            let base = date(2024, 2, 20);
            let mut kept = KeptRuns::default();
            for (add, offset) in steps {
                let day = base.checked_add(jiff::Span::new().days(offset)).unwrap();
                if add { kept.add(day) } else { kept.remove(day) }
                let built = Streaks::from_days(kept.entries.keys().copied());
                let runs: Vec<Run> = kept.runs.values().copied().collect();
                prop_assert_eq!(&runs, &built.runs);
            }
        }
    }

    proptest! {
        #[test]
        fn matches_brute_force(
            days in proptest::collection::vec(any_date(), 0..80),
            probe in any_date(),
            today in any_date(),
        ) {
            let s = streaks(&days);
            prop_assert_eq!(s.streak_on(probe), brute_force_streak(&days, probe));
            prop_assert_eq!(s.is_counted(probe), days.contains(&probe));

            let longest = days.iter().map(|d| brute_force_streak(&days, *d)).max().unwrap_or(0);
            prop_assert_eq!(s.longest(), longest);

            let latest = days.iter().max().copied();
            let current = match latest {
                Some(l) if l >= today.yesterday().unwrap() => brute_force_streak(&days, l),
                _ => 0,
            };
            prop_assert_eq!(s.current(today), current);
        }

        #[test]
        fn streaks_do_not_depend_on_order(
            mut days in proptest::collection::vec(any_date(), 0..60),
        ) {
            let forward = streaks(&days);
            days.reverse();
            prop_assert_eq!(forward, streaks(&days));
        }
    }
}
