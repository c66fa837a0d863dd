//! Streak calculation over ten years of daily entries (3,653 days).
//!
//! Measures what `GET /mood` computes per request from the user's counted
//! days: `Streaks::from_days` (collect, sort, dedup, build runs), then
//! `current(today)`, `longest()` and `is_counted(today)`, plus `streak_on`
//! for every entry on the page in `ten_years_page_of_30`. Loading the days
//! from the store is not included. Target: at most 50 µs per calculation.
//!
//! Run with `cargo bench --bench streak`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jiff::ToSpan;
use jiff::civil::{Date, date};
use moodlog::domain::Streaks;

/// Ten years of days, 2016-11-24..=2026-11-24.
const DAYS: usize = 3_653;

fn today() -> Date {
    date(2026, 11, 24)
}

/// Every day of the span, ascending, as the store returns them from an index.
fn daily() -> Vec<Date> {
    let first = today() - (DAYS as i64 - 1).days();
    first.series(1.day()).take(DAYS).collect()
}

/// The same span with every 17th day missing, in a fixed pseudo-random order
/// (sorted by a splitmix64 hash of the position) so the sort does real work.
fn shuffled_with_gaps() -> Vec<Date> {
    let mut keyed: Vec<(u64, Date)> = (daily().into_iter().enumerate())
        .filter(|(i, _)| i % 17 != 16)
        .map(|(i, day)| {
            let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31), day)
        })
        .collect();
    keyed.sort_unstable_by_key(|&(key, _)| key);
    keyed.into_iter().map(|(_, day)| day).collect()
}

/// The per-request figures; `days` is consumed like the store's `Vec<Date>`.
fn figures(days: Vec<Date>, today: Date) -> (Streaks, u32, u32, bool) {
    let streaks = Streaks::from_days(days);
    let current = streaks.current(today);
    let longest = streaks.longest();
    let counted = streaks.is_counted(today);
    (streaks, current, longest, counted)
}

fn bench(c: &mut Criterion) {
    let today = today();
    let daily = daily();
    let shuffled = shuffled_with_gaps();
    let page: Vec<Date> = (0..30).map(|n| today - n.days()).collect();
    // The inputs are what the names say: one unbroken run, and runs of 16.
    assert_eq!(figures(daily.clone(), today).1, DAYS as u32);
    assert_eq!(figures(shuffled.clone(), today).2, 16);

    // The input is built once above; each iteration gets a clone made outside
    // the timed section by `iter_batched`, and hands that `Vec` to
    // `from_days` as the handler does (collecting a `Vec`'s own iterator
    // reuses its allocation, so no copy is timed).
    let mut group = c.benchmark_group("streak");
    group.bench_function("ten_years_daily", |b| {
        b.iter_batched(
            || daily.clone(),
            |days| figures(black_box(days), black_box(today)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("ten_years_shuffled_with_gaps", |b| {
        b.iter_batched(
            || shuffled.clone(),
            |days| figures(black_box(days), black_box(today)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("ten_years_page_of_30", |b| {
        b.iter_batched(
            || daily.clone(),
            |days| {
                let (streaks, ..) = black_box(figures(black_box(days), black_box(today)));
                for &day in &page {
                    black_box(streaks.streak_on(black_box(day)));
                }
                streaks
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
