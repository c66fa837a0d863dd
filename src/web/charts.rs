//! Charts for the web pages, drawn on the server as inline SVG.
//!
//! Drawing goes through plotters' SVG backend so that scales, ticks and text
//! placement come from a maintained library. Its output is then adjusted in
//! one place ([`finish`]): the root element is rewritten so the SVG scales to
//! its container and is announced to screen readers. The pages are served
//! with `style-src 'self'`; plotters-svg 0.3 writes presentation attributes
//! only (`fill=`, `font-size=`, ...), never `style=`, and the tests keep it
//! that way.

use std::fmt::Write as _;
use std::ops::Range;

use jiff::ToSpan;
use jiff::civil::Date;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The store summarises days into this domain type; the charts take it as is.
pub use crate::domain::DayMood;

type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// The line chart is drawn at two sizes: text in an SVG scales with it, so
/// one drawing cannot be readable on both a phone and a desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartSize {
    Wide,
    Compact,
}

impl ChartSize {
    fn pixels(self) -> (u32, u32) {
        match self {
            Self::Wide => (720, 300),
            Self::Compact => (360, 260),
        }
    }

    fn font(self) -> f64 {
        match self {
            Self::Wide => 12.0,
            Self::Compact => 11.0,
        }
    }
}
const FONT: &str = "sans-serif";
const TEXT: RGBColor = RGBColor(0x33, 0x33, 0x33);
const AXIS: RGBColor = RGBColor(0x6B, 0x72, 0x80);
const GRID: RGBColor = RGBColor(0xE5, 0xE7, 0xEB);
const LINE: RGBColor = RGBColor(0x0F, 0x76, 0x6E);
const NO_ENTRY: RGBColor = RGBColor(0xEB, 0xED, 0xF0);
/// Low to high rating: warm for bad days, green/teal for good ones, each
/// step distinct from each other and from the "no entry" grey.
const SCALE: [RGBColor; 5] = [
    RGBColor(0xE7, 0x6F, 0x51),
    RGBColor(0xF4, 0xA2, 0x61),
    RGBColor(0xE9, 0xC4, 0x6A),
    RGBColor(0x8A, 0xB1, 0x7D),
    RGBColor(0x2A, 0x9D, 0x8F),
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

// Heat map geometry, in SVG user units.
const CELL: i32 = 13;
const PITCH: i32 = CELL + 2;
const GRID_LEFT: i32 = 34;
const GRID_TOP: i32 = 22;
const LEGEND_HEIGHT: i32 = 30;
const MARGIN: i32 = 8;
/// Wide enough for the legend even when the range is a single week.
const MIN_HEAT_WIDTH: i32 = 300;

/// Line chart of the daily average rating from `from` to `to` (inclusive,
/// x axis = dates, y axis = rating 1–10). A reversed range is read as the
/// single day `from`. Days with no entries break the line, so a gap in the
/// log is visible rather than interpolated over.
pub fn mood_chart(days: &[DayMood], from: Date, to: Date, size: ChartSize) -> String {
    let to = to.max(from);
    let label = format!("Daily average mood from {from} to {to}");
    render(size.pixels(), &label, |root| {
        draw_chart(root, days, from, to, size)
    })
}

/// Calendar heat map, GitHub style: one column per week (rows Monday to
/// Sunday) from the Monday on or before `from` through `to`. Only dates in
/// the range are drawn, so a partial first or last week reads as such. A
/// reversed range is read as the single day `from`.
pub fn heat_map(days: &[DayMood], from: Date, to: Date) -> String {
    let to = to.max(from);
    let start = from.saturating_sub((from.weekday().to_monday_zero_offset()).days());
    let weeks = (day_offset(start, to) / 7 + 1) as i32;
    let width = (GRID_LEFT + weeks * PITCH + MARGIN).max(MIN_HEAT_WIDTH);
    let height = GRID_TOP + 7 * PITCH + LEGEND_HEIGHT;
    let size = (width as u32, height as u32);
    let label = format!("Calendar of logged days from {from} to {to}");
    render(size, &label, |root| {
        draw_heat_map(root, days, from, to, start)
    })
}

/// Runs a plotters drawing into a string and finishes the root element.
///
/// The SVG backend only fails on file I/O and the built-in text metrics never
/// fail, so an error here is a plotters bug, not bad input: it panics with a
/// clear message rather than serving a half-drawn chart.
fn render(
    size: (u32, u32),
    label: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root)
            .and_then(|()| root.present())
            .expect("plotters cannot fail when drawing SVG into a String");
    }
    finish(&svg, size, label)
}

/// Rewrites plotters' root tag (`<svg width=".." height=".." viewBox=".."
/// xmlns="..">`): a fixed pixel size would overflow narrow screens, so the
/// SVG takes its container's width and keeps the aspect ratio of its viewBox.
/// Also drops `opacity="1"`, which plotters writes on every element (the
/// default, and over a tenth of a year's heat map).
fn finish(svg: &str, (w, h): (u32, u32), label: &str) -> String {
    let body = svg.split_once('>').map_or("", |(_, body)| body);
    let mut out = String::with_capacity(svg.len());
    // The label is built from dates only, so it needs no attribute escaping.
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{label}">"#
    );
    out.push_str(&body.replace(r#" opacity="1""#, ""));
    out
}

fn draw_chart(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    days: &[DayMood],
    from: Date,
    to: Date,
    size: ChartSize,
) -> DrawResult {
    root.fill(&WHITE)?;
    let span = day_offset(from, to) as f64;
    let (ticks, monthly) = date_ticks(from, to);
    let x_label = |x: &f64| {
        let date = from.saturating_add((x.round() as i64).days());
        let month = MONTHS[date.month() as usize - 1];
        if monthly {
            month.to_string()
        } else {
            format!("{month} {}", date.day())
        }
    };
    let y_label = |y: &f64| format!("{y:.0}");

    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .margin_right(if size == ChartSize::Wide { 24 } else { 14 })
        .x_label_area_size(28)
        .y_label_area_size(if size == ChartSize::Wide { 48 } else { 36 })
        .build_cartesian_2d(
            // Half a day either side keeps the first and last points off the axes.
            Ticked::new(-0.5..span + 0.5, ticks),
            Ticked::new(0.5..10.5, (1..=10).map(f64::from).collect()),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .label_style(text_style(size.font()))
        .axis_desc_style(text_style(size.font()))
        .y_desc("Rating")
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .draw()?;

    let range = from..=to;
    let points: Vec<(i64, f64)> = days
        .iter()
        .filter(|day| range.contains(&day.date))
        .map(|day| (day_offset(from, day.date), day.average.clamp(1.0, 10.0)))
        .collect();
    // A year of daily points at full size would be a solid band.
    let (radius, width) = if span > 120.0 { (2, 1) } else { (3, 2) };
    let at = |&(x, y): &(i64, f64)| (x as f64, y);
    for run in points.chunk_by(|a, b| b.0 - a.0 == 1) {
        if run.len() > 1 {
            chart.draw_series(LineSeries::new(
                run.iter().map(at),
                LINE.stroke_width(width),
            ))?;
        }
    }
    chart.draw_series(
        points
            .iter()
            .map(|p| Circle::new(at(p), radius, LINE.filled())),
    )?;
    Ok(())
}

/// A linear f64 axis with ticks exactly where we put them. plotters'
/// `with_key_points` would do, but on an f64 axis it loses the label
/// formatter hook (its format option is not `DefaultFormatting`).
struct Ticked {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: Range<f64>, ticks: Vec<f64>) -> Self {
        Self {
            linear: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // No light (minor) grid lines: only the labelled ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// Tick dates for the x axis: at most about a dozen, on boundaries a reader
/// expects (days, Mondays, first of the month). The flag says ticks are month
/// starts, labelled by month name alone.
fn date_ticks(from: Date, to: Date) -> (Vec<f64>, bool) {
    let span = day_offset(from, to);
    let (first, step, monthly) = if span < 10 {
        (from, 1.day(), false)
    } else if span < 126 {
        let to_monday = (7 - from.weekday().to_monday_zero_offset()) % 7;
        let step = if span < 63 { 1.week() } else { 2.weeks() };
        (from.saturating_add(to_monday.days()), step, false)
    } else {
        let first = from.first_of_month();
        let first = if first < from {
            first.saturating_add(1.month())
        } else {
            first
        };
        (first, (1 + span / (31 * 12)).months(), true)
    };
    let ticks = first
        .series(step)
        .take_while(|date| *date <= to)
        .map(|date| day_offset(from, date) as f64)
        .collect();
    (ticks, monthly)
}

fn draw_heat_map(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    days: &[DayMood],
    from: Date,
    to: Date,
    start: Date,
) -> DrawResult {
    root.fill(&WHITE)?;
    let mut averages = vec![None; day_offset(start, to) as usize + 1];
    let range = from..=to;
    for day in days.iter().filter(|day| range.contains(&day.date)) {
        averages[day_offset(start, day.date) as usize] = Some(day.average);
    }

    let label = text_style(11.0);
    let right = label.pos(Pos::new(HPos::Right, VPos::Center));
    for (row, name) in [(0, "Mon"), (2, "Wed"), (4, "Fri")] {
        root.draw_text(
            name,
            &right,
            (GRID_LEFT - 6, GRID_TOP + row * PITCH + CELL / 2),
        )?;
    }

    // A month is named above the first week that starts in it. The first
    // column is named only if enough of its month follows for the label not
    // to run into the next one.
    let mut column_month = None;
    for (i, date) in start
        .series(1.day())
        .take_while(|date| *date <= to)
        .enumerate()
    {
        let (column, row) = ((i / 7) as i32, (i % 7) as i32);
        if row == 0 {
            let first = date.max(from);
            let month = first.month();
            let named = column_month.map_or(first.day() <= 14, |previous| previous != month);
            if named {
                let x = GRID_LEFT + column * PITCH;
                root.draw_text(MONTHS[month as usize - 1], &label, (x, GRID_TOP - 16))?;
            }
            column_month = Some(month);
        }
        if !range.contains(&date) {
            continue;
        }
        let colour = averages[i].map_or(NO_ENTRY, mood_colour);
        let (x, y) = (GRID_LEFT + column * PITCH, GRID_TOP + row * PITCH);
        root.draw(&Rectangle::new(
            [(x, y), (x + CELL, y + CELL)],
            colour.filled(),
        ))?;
    }

    // Legend: "no entry" on the left, the colour scale on the right.
    let y = GRID_TOP + 7 * PITCH + 10;
    let left = label.pos(Pos::new(HPos::Left, VPos::Center));
    let swatch = |x: i32, colour: RGBColor| {
        root.draw(&Rectangle::new(
            [(x, y), (x + CELL, y + CELL)],
            colour.filled(),
        ))
    };
    swatch(GRID_LEFT, NO_ENTRY)?;
    root.draw_text("No entry", &left, (GRID_LEFT + CELL + 5, y + CELL / 2))?;
    let (width, _) = root.dim_in_pixel();
    let scale_right = width as i32 - MARGIN - 32;
    let scale_left = scale_right - SCALE.len() as i32 * PITCH;
    root.draw_text("Low", &right, (scale_left - 5, y + CELL / 2))?;
    for (i, colour) in SCALE.iter().enumerate() {
        swatch(scale_left + i as i32 * PITCH, *colour)?;
    }
    root.draw_text("High", &left, (scale_right + 3, y + CELL / 2))?;
    Ok(())
}

/// Buckets an average into [`SCALE`]; equal-width bins over 1..=10.
fn mood_colour(average: f64) -> RGBColor {
    let step = ((average.clamp(1.0, 10.0) - 1.0) / 9.0 * SCALE.len() as f64) as usize;
    SCALE[step.min(SCALE.len() - 1)]
}

/// plotters writes `font-size` as the requested size divided by 1.24 (its
/// estimate of the line height), so ask for `px * 1.24` to get `px`.
fn text_style(px: f64) -> TextStyle<'static> {
    (FONT, px * 1.24).into_font().color(&TEXT)
}

/// Whole days from `from` to `to`; civil dates have no DST, so every day is
/// exactly 86,400 seconds and this cannot fail, unlike `Date::until`.
fn day_offset(from: Date, to: Date) -> i64 {
    to.duration_since(from).as_secs() / 86_400
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// Rects that are not day cells, besides the background: the legend's
    /// "no entry" swatch and the colour scale.
    const LEGEND_SWATCHES: usize = 1 + SCALE.len();

    fn day(date: Date, average: f64) -> DayMood {
        DayMood {
            date,
            average,
            entries: 1,
        }
    }

    /// `n` days from `from` with every fifth day missing.
    fn logged(from: Date, n: i64) -> Vec<DayMood> {
        (0..n)
            .filter(|i| i % 5 != 3)
            .map(|i| day(from.saturating_add(i.days()), 1.0 + (i % 10) as f64))
            .collect()
    }

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    /// Every output must pass `style-src 'self'` and load nothing.
    fn assert_safe_and_responsive(svg: &str, size: &str) {
        for banned in ["style=", "<style", "<script", "href", "url("] {
            assert!(!svg.contains(banned), "{banned} in {svg}");
        }
        let root = &svg[..svg.find('>').expect("root tag")];
        assert!(root.starts_with("<svg "), "{root}");
        assert!(root.contains(&format!(r#"viewBox="0 0 {size}"#)), "{root}");
        assert!(root.contains(r#"width="100%""#), "{root}");
        assert!(!root.contains("height="), "{root}");
        assert!(root.contains(r#"role="img""#), "{root}");
        assert!(root.contains("aria-label=\""), "{root}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn chart_has_one_circle_per_day_in_range() {
        let (from, to) = (date(2026, 10, 26), date(2026, 11, 24));
        let days = logged(date(2026, 10, 20), 40);
        let in_range = days
            .iter()
            .filter(|d| (from..=to).contains(&d.date))
            .count();
        assert!(in_range < days.len() && in_range > 20);
        let svg = mood_chart(&days, from, to, ChartSize::Wide);
        assert_eq!(count(&svg, "<circle"), in_range);
        assert_safe_and_responsive(&svg, "720 300");
        assert!(svg.contains("Daily average mood from 2026-10-26 to 2026-11-24"));
        assert!(svg.contains(">\nNov 2\n<"), "Monday ticks are labelled");
        let compact = mood_chart(&days, from, to, ChartSize::Compact);
        assert_eq!(count(&compact, "<circle"), in_range);
        assert_safe_and_responsive(&compact, "360 260");
    }

    #[test]
    fn missing_days_break_the_line() {
        let from = date(2026, 3, 1);
        let offsets = [0, 1, 2, 4, 6, 7];
        let days: Vec<_> = offsets
            .iter()
            .map(|&i| day(from.saturating_add(i.days()), 5.0))
            .collect();
        let svg = mood_chart(&days, from, date(2026, 3, 10), ChartSize::Wide);
        // Runs 0-2 and 6-7 are lines; day 4 stands alone.
        assert_eq!(
            count(&svg, r##"<polyline fill="none" stroke="#0F766E""##),
            2
        );
        assert_eq!(count(&svg, "<circle"), offsets.len());
    }

    #[test]
    fn chart_handles_empty_single_day_and_long_ranges() {
        let from = date(2026, 1, 1);
        let svg = mood_chart(&[], from, date(2026, 1, 31), ChartSize::Wide);
        assert_eq!(count(&svg, "<circle"), 0);
        assert!(svg.contains(">\n10\n<"), "y axis is drawn");
        let one = [day(from, 7.5)];
        assert_eq!(
            count(&mood_chart(&one, from, from, ChartSize::Wide), "<circle"),
            1
        );
        assert_eq!(
            count(
                &mood_chart(&one, from, date(2025, 1, 1), ChartSize::Wide),
                "<circle"
            ),
            1
        );
        let year = logged(from, 365);
        let svg = mood_chart(&year, from, date(2026, 12, 31), ChartSize::Wide);
        assert_eq!(count(&svg, "<circle"), year.len());
        assert_safe_and_responsive(&svg, "720 300");
    }

    #[test]
    fn heat_map_draws_one_cell_per_date_in_range() {
        // Wednesday to Tuesday: partial first and last weeks.
        let cases = [
            (date(2026, 1, 7), date(2026, 4, 14)),
            (date(2026, 1, 7), date(2026, 1, 7)),
            (date(2025, 11, 25), date(2026, 11, 24)),
        ];
        for (from, to) in cases {
            let dates = day_offset(from, to) as usize + 1;
            for days in [Vec::new(), logged(from.saturating_sub(3.days()), 400)] {
                let svg = heat_map(&days, from, to);
                assert_safe_and_responsive(&svg, "");
                // The white background and the legend are the other rects.
                assert_eq!(
                    count(&svg, "<rect"),
                    1 + LEGEND_SWATCHES + dates,
                    "{from}..{to}"
                );
            }
        }
    }

    #[test]
    fn heat_map_greys_out_days_without_entries() {
        let (from, to) = (date(2026, 2, 1), date(2026, 2, 28));
        let svg = heat_map(&[], from, to);
        assert_eq!(count(&svg, r##"fill="#EBEDF0""##), 28 + 1);
        assert!(svg.contains(">\nFeb\n<") && svg.contains(">\nMon\n<"));
        assert!(svg.contains("Calendar of logged days from 2026-02-01 to 2026-02-28"));
    }

    #[test]
    fn low_and_high_days_get_different_colours() {
        let from = date(2026, 2, 2);
        let low = mood_colour(1.0);
        let high = mood_colour(10.0);
        assert_ne!(low, high);
        assert_ne!(low, NO_ENTRY);
        let svg = heat_map(
            &[day(from, 1.5), day(from.saturating_add(1.day()), 9.8)],
            from,
            from.saturating_add(6.days()),
        );
        let fill = |c: RGBColor| format!(r##"fill="#{:02X}{:02X}{:02X}""##, c.0, c.1, c.2);
        // Each colour once in the grid and once in the legend.
        assert_eq!(count(&svg, &fill(low)), 2);
        assert_eq!(count(&svg, &fill(high)), 2);
        let steps: std::collections::HashSet<_> = (10..=100)
            .map(|r| mood_colour(r as f64 / 10.0))
            .map(|c| (c.0, c.1, c.2))
            .collect();
        assert_eq!(steps.len(), SCALE.len());
    }
}
