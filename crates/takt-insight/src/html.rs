//! The report as one self-contained HTML page: inline CSS and SVG charts
//! drawn here, no script, no font or image fetched from anywhere.
//!
//! Figures: dwell by stage and location (p50 bar, p90 whisker, log hours
//! axis); the bottleneck ranking (waiting vehicle-hours, open-but-busy and
//! closed); a heat map of waiting by local hour of the week for the top
//! resources; plan adherence per week; weekly waiting and rolls. Tables
//! follow each figure.

use crate::stats::{DAYS, HOURS_OF_WEEK};
use crate::{Bottleneck, Report, local_time};
use std::fmt::Write;
use takt_core::Minute;
use takt_core::network::Network;
use takt_core::plan::Stage;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `1,234.5`-style number with `digits` decimals.
pub fn fmt_num(x: f64, digits: usize) -> String {
    let s = format!("{:.*}", digits, x.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(a, b)| (a, b));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if x < 0.0 && x.abs() >= 0.5 * 10f64.powi(-(digits as i32)) {
        out.insert(0, '-');
    }
    out
}

const CSS: &str = "
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px 32px;color:#1d2733;background:#fff;max-width:1320px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:2px solid #dfe6ee;padding-bottom:4px}
p.meta{color:#566;margin:2px 0;font-size:13px}p.note{color:#566;font-size:12px;margin:4px 0 8px}
table{border-collapse:collapse;font-size:12px;margin:6px 0 10px}th,td{padding:3px 8px;border-bottom:1px solid #e6ebf0;text-align:right}
th{background:#f3f6f9;font-weight:600}td.l,th.l{text-align:left}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}.kpi{background:#f3f6f9;border-radius:6px;padding:8px 14px;min-width:150px}
.kpi b{display:block;font-size:20px}.kpi span{font-size:12px;color:#566}
svg text{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif}
";

const STAGE_COLORS: [&str; 10] = [
    "#8c96a3", "#6f8fbf", "#4c78a8", "#e45756", "#f2a03d", "#54a24b", "#2a9d8f", "#b279a2",
    "#9d755d", "#5a6b7d",
];

/// Renders the report. Local times use each location's zone in `net`.
pub fn render(report: &Report, net: &Network) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let scope = match &report.tenant {
        Some(t) => format!("tenant {}", esc(t)),
        None => "all tenants".to_string(),
    };
    let window = match (report.from, report.to) {
        (None, None) => "the whole log".to_string(),
        (f, t) => format!(
            "{} to {}",
            f.map_or("start".into(), |m| m.to_string()),
            t.map_or("end".into(), |m| m.to_string())
        ),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>takt insight — {}</title><style>{CSS}</style></head><body>",
        esc(&report.scenario)
    );
    let _ = write!(
        h,
        "<h1>Where time is lost — {}</h1><p class=\"meta\">{scope}; {window}; read as of {} (UTC). {} events, {} vehicles. Late/early threshold: {} h against the first plan. Times of day are local at each location.</p>",
        esc(&report.scenario),
        report.as_of,
        fmt_num(report.n_events as f64, 0),
        fmt_num(report.n_vehicles as f64, 0),
        fmt_num(report.late_threshold_hours, 0),
    );
    let total_wait: f64 = report
        .bottlenecks
        .iter()
        .map(|b| b.waiting_vehicle_hours)
        .sum();
    let top = report.bottlenecks.first();
    let _ = write!(
        h,
        "<div class=\"kpis\"><div class=\"kpi\"><b>{}</b><span>vehicle-hours waiting for capacity</span></div>",
        fmt_num(total_wait, 0)
    );
    if let Some(b) = top {
        let _ = write!(
            h,
            "<div class=\"kpi\"><b>{}</b><span>top bottleneck: {} vehicle-hours</span></div>",
            esc(&b.resource),
            fmt_num(b.waiting_vehicle_hours, 1)
        );
    }
    let _ = write!(
        h,
        "<div class=\"kpi\"><b>{}</b><span>rolls ({} vehicles)</span></div>",
        report.rolls.n_rolls, report.rolls.n_vehicles
    );
    if let Some(a) = report
        .plan_vs_actual
        .iter()
        .find(|a| a.milestone == "vessel_departed")
    {
        let _ = write!(
            h,
            "<div class=\"kpi\"><b>{}%</b><span>sailed within {} h of plan</span></div>",
            fmt_num(a.on_time_rate * 100.0, 1),
            fmt_num(report.late_threshold_hours, 0)
        );
    }
    h.push_str("</div>");

    h.push_str("<h2>1. Dwell by stage and location</h2><p class=\"note\">Hours from the end of the previous stage to the end of this one (waiting plus the stage itself). Bar: median (p50); whisker: p90. Logarithmic hours axis.</p>");
    dwell_chart(&mut h, report);

    h.push_str("<h2>2. Bottlenecks: waiting attributed to the resource that caused it</h2><p class=\"note\">Vehicle-hours of waiting for a capacity (queues at pools, full departures, rolls), ranked. Dark: the resource was open but busy or down; light: its calendar was closed.</p>");
    bottleneck_chart(&mut h, &report.bottlenecks);
    bottleneck_table(&mut h, &report.bottlenecks, 15);

    h.push_str("<h2>3. When vehicles wait: hour of the week, local time</h2><p class=\"note\">Vehicle-hours of waiting in each local hour of the week at the top resources; each row is scaled to its own maximum (shown at the right). Hours are local at the resource's location.</p>");
    heat_map(&mut h, &report.bottlenecks);

    h.push_str("<h2>4. Plan adherence over time</h2>");
    let _ = write!(
        h,
        "<p class=\"note\">Share of milestones within ±{} h of the vehicle's first plan (the promise made when it was routed), by week of the actual milestone (weeks start {}).</p>",
        fmt_num(report.late_threshold_hours, 0),
        report
            .weekly
            .first()
            .map_or(String::new(), |w| DAYS[weekday(w.week_start)].to_string())
    );
    adherence_chart(&mut h, report);
    adherence_table(&mut h, report, net);

    h.push_str("<h2>5. Weekly trend</h2><p class=\"note\">Vehicle-hours of waiting for capacity ending in each week (bars) and rolls (line, right axis).</p>");
    weekly_chart(&mut h, report);

    h.push_str("<h2>6. Rolls and holds</h2>");
    rolls_and_holds(&mut h, report);

    h.push_str("<h2>7. Dwell by stage, all locations</h2>");
    h.push_str("<table><tr><th class=\"l\">stage</th><th>vehicles</th><th>p50 h</th><th>p90 h</th><th>p95 h</th><th>mean h</th><th>vehicle-hours</th></tr>");
    for r in &report.dwell_hours_by_stage {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.stage),
            fmt_num(r.hours.n as f64, 0),
            fmt_num(r.hours.p50, 1),
            fmt_num(r.hours.p90, 1),
            fmt_num(r.hours.p95, 1),
            fmt_num(r.hours.mean, 1),
            fmt_num(r.hours.vehicle_hours, 0)
        );
    }
    h.push_str("</table>");
    h.push_str("<p class=\"note\">Generated by takt insight. Waiting attribution and formats: docs/insight.md.</p></body></html>\n");
    h
}

/// Weekday (0 = Monday) of a UTC instant.
fn weekday(t: Minute) -> usize {
    ((t.0.div_euclid(Minute::DAY) + 3).rem_euclid(7)) as usize
}

fn stage_index(name: &str) -> usize {
    Stage::ALL
        .iter()
        .position(|s| s.name() == name)
        .unwrap_or(0)
}

fn dwell_chart(h: &mut String, report: &Report) {
    let mut rows: Vec<_> = report
        .dwell_hours
        .iter()
        .filter(|r| r.hours.n > 0)
        .collect();
    rows.sort_by_key(|r| (stage_index(&r.stage), r.location.clone()));
    let (left, right, row_h, top) = (250.0, 150.0, 17.0, 30.0);
    let width = 1200.0;
    let plot_w = width - left - right;
    let height = top + rows.len() as f64 * row_h + 40.0;
    // Log axis from 0.1 h to the next power of ten above the largest p90.
    let max = rows.iter().map(|r| r.hours.p90).fold(1.0, f64::max);
    let (lo, hi) = (-1.0_f64, max.log10().ceil().max(1.0));
    let x = |v: f64| left + (v.max(0.1).log10() - lo) / (hi - lo) * plot_w;
    let _ = write!(
        h,
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"dwell by stage and location\">"
    );
    let mut p = lo as i32;
    while p as f64 <= hi {
        let v = 10f64.powi(p);
        let xv = x(v);
        let _ = write!(
            h,
            "<line x1=\"{xv:.1}\" y1=\"{top}\" x2=\"{xv:.1}\" y2=\"{:.1}\" stroke=\"#dde3ea\"/><text x=\"{xv:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#445\">{}</text>",
            height - 34.0,
            height - 20.0,
            if v < 1.0 {
                format!("{v}")
            } else {
                fmt_num(v, 0)
            }
        );
        p += 1;
    }
    let _ = write!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#223\">dwell, hours (log scale)</text>",
        left + plot_w / 2.0,
        height - 4.0
    );
    let _ = write!(
        h,
        "<text x=\"{left}\" y=\"16\" font-size=\"12\" fill=\"#223\">stage · location</text><text x=\"{:.1}\" y=\"16\" font-size=\"12\" fill=\"#223\">p50 / p90 h (vehicles)</text>",
        width - right + 8.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let color = STAGE_COLORS[stage_index(&r.stage) % STAGE_COLORS.len()];
        let x0 = x(0.1);
        let x50 = x(r.hours.p50);
        let x90 = x(r.hours.p90);
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#223\">{} · {}</text>",
            left - 6.0,
            y + 12.0,
            esc(&r.stage),
            esc(&r.location)
        );
        let _ = write!(
            h,
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/><line x1=\"{x50:.1}\" y1=\"{:.1}\" x2=\"{x90:.1}\" y2=\"{:.1}\" stroke=\"#223\"/><line x1=\"{x90:.1}\" y1=\"{:.1}\" x2=\"{x90:.1}\" y2=\"{:.1}\" stroke=\"#223\"/>",
            y + 3.0,
            (x50 - x0).max(1.0),
            row_h - 5.0,
            y + row_h / 2.0,
            y + row_h / 2.0,
            y + 4.0,
            y + row_h - 3.0
        );
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#445\">{} / {} ({})</text>",
            width - right + 8.0,
            y + 12.0,
            fmt_num(r.hours.p50, 1),
            fmt_num(r.hours.p90, 1),
            fmt_num(r.hours.n as f64, 0)
        );
    }
    h.push_str("</svg>");
}

/// Round axis maximum and tick step for values up to `max`.
fn nice_axis(max: f64) -> (f64, f64) {
    let max = max.max(1.0);
    let mag = 10f64.powf(max.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag / 2.0)
        .find(|s| max / s <= 6.0)
        .unwrap_or(mag);
    ((max / step).ceil() * step, step)
}

fn bottleneck_chart(h: &mut String, list: &[Bottleneck]) {
    let rows: Vec<_> = list.iter().take(12).collect();
    if rows.is_empty() {
        h.push_str("<p>No waiting for capacity in this log.</p>");
        return;
    }
    let (left, right, row_h, top) = (250.0, 170.0, 24.0, 12.0);
    let width = 1200.0;
    let plot_w = width - left - right;
    let height = top + rows.len() as f64 * row_h + 44.0;
    let (max, step) = nice_axis(rows[0].waiting_vehicle_hours);
    let x = |v: f64| left + v / max * plot_w;
    let _ = write!(
        h,
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"bottleneck ranking\">"
    );
    let mut t = 0.0;
    while t <= max + 1e-9 {
        let xv = x(t);
        let _ = write!(
            h,
            "<line x1=\"{xv:.1}\" y1=\"{top}\" x2=\"{xv:.1}\" y2=\"{:.1}\" stroke=\"#dde3ea\"/><text x=\"{xv:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#445\">{}</text>",
            height - 38.0,
            height - 24.0,
            fmt_num(t, 0)
        );
        t += step;
    }
    let _ = write!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#223\">waiting, vehicle-hours</text>",
        left + plot_w / 2.0,
        height - 6.0
    );
    for (i, b) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let busy = b.waiting_vehicle_hours - b.closed_vehicle_hours;
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#223\">{}. {} ({})</text>",
            left - 6.0,
            y + 15.0,
            b.rank,
            esc(&b.resource),
            esc(&b.kind)
        );
        let _ = write!(
            h,
            "<rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#c0392b\"/><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f1a9a0\"/>",
            y + 3.0,
            (x(busy) - left).max(0.0),
            row_h - 6.0,
            x(busy),
            y + 3.0,
            (x(b.waiting_vehicle_hours) - x(busy)).max(0.0),
            row_h - 6.0
        );
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#223\">{} veh-h</text>",
            x(b.waiting_vehicle_hours) + 6.0,
            y + 15.0,
            fmt_num(b.waiting_vehicle_hours, 0)
        );
    }
    h.push_str("</svg>");
}

fn bottleneck_table(h: &mut String, list: &[Bottleneck], n: usize) {
    h.push_str("<table><tr><th>rank</th><th class=\"l\">resource</th><th class=\"l\">kind</th><th class=\"l\">location</th><th>waiting veh-h</th><th>of which closed</th><th>waits</th><th>p50 h</th><th>p90 h</th><th class=\"l\">peak hours (local)</th><th class=\"l\">time zone</th></tr>");
    for b in list.iter().take(n) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            b.rank,
            esc(&b.resource),
            esc(&b.kind),
            esc(&b.location),
            fmt_num(b.waiting_vehicle_hours, 1),
            fmt_num(b.closed_vehicle_hours, 1),
            fmt_num(b.wait_hours.n as f64, 0),
            fmt_num(b.wait_hours.p50, 1),
            fmt_num(b.wait_hours.p90, 1),
            esc(&b.peak_hours.join(", ")),
            esc(&b.time_zone)
        );
    }
    h.push_str("</table>");
}

fn heat_map(h: &mut String, list: &[Bottleneck]) {
    let rows: Vec<_> = list.iter().take(8).collect();
    if rows.is_empty() {
        return;
    }
    let (left, right, top, cell_h) = (250.0, 110.0, 34.0, 26.0);
    let width = 1200.0;
    let cell_w = (width - left - right) / HOURS_OF_WEEK as f64;
    let height = top + rows.len() as f64 * cell_h + 64.0;
    let _ = write!(
        h,
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"waiting by hour of week\">"
    );
    for (d, name) in DAYS.iter().enumerate() {
        let x0 = left + (d * 24) as f64 * cell_w;
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"14\" font-size=\"12\" text-anchor=\"middle\" fill=\"#223\">{name}</text>",
            x0 + 12.0 * cell_w
        );
        for hour in [0usize, 6, 12, 18] {
            let xh = x0 + hour as f64 * cell_w;
            let _ = write!(
                h,
                "<text x=\"{:.1}\" y=\"28\" font-size=\"9\" text-anchor=\"middle\" fill=\"#667\">{hour:02}</text>",
                xh + cell_w / 2.0
            );
        }
    }
    for (i, b) in rows.iter().enumerate() {
        let y = top + i as f64 * cell_h;
        let max = b
            .waiting_by_hour_of_week
            .iter()
            .copied()
            .fold(0.0, f64::max);
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#223\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"end\" fill=\"#667\">{}</text>",
            left - 6.0,
            y + 12.0,
            esc(&b.resource),
            left - 6.0,
            y + 23.0,
            esc(&b.time_zone)
        );
        for (k, &v) in b.waiting_by_hour_of_week.iter().enumerate() {
            let f = if max > 0.0 { v / max } else { 0.0 };
            // White to dark red.
            let c = |lo: f64, hi: f64| (lo + (hi - lo) * f).round() as u8;
            let _ = write!(
                h,
                "<rect x=\"{:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"#{:02x}{:02x}{:02x}\"/>",
                left + k as f64 * cell_w,
                y + 1.0,
                cell_w + 0.3,
                cell_h - 2.0,
                c(247.0, 165.0),
                c(247.0, 15.0),
                c(247.0, 21.0)
            );
        }
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#445\">max {} veh-h</text>",
            width - right + 6.0,
            y + 17.0,
            fmt_num(max, 1)
        );
    }
    for d in 0..=7 {
        let x0 = left + (d * 24) as f64 * cell_w;
        let _ = write!(
            h,
            "<line x1=\"{x0:.1}\" y1=\"18\" x2=\"{x0:.1}\" y2=\"{:.1}\" stroke=\"#556\" stroke-width=\"0.8\"/>",
            top + rows.len() as f64 * cell_h
        );
    }
    // Legend.
    let ly = top + rows.len() as f64 * cell_h + 20.0;
    let _ = write!(
        h,
        "<defs><linearGradient id=\"heat\"><stop offset=\"0\" stop-color=\"#f7f7f7\"/><stop offset=\"1\" stop-color=\"#a50f15\"/></linearGradient></defs><rect x=\"{left}\" y=\"{ly:.1}\" width=\"200\" height=\"10\" fill=\"url(#heat)\"/><text x=\"{left}\" y=\"{:.1}\" font-size=\"11\" fill=\"#445\">0</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#445\">row maximum</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#223\">local hour of the week at the resource (Monday 00:00 to Sunday 24:00)</text>",
        ly + 24.0,
        left + 200.0,
        ly + 24.0,
        left + (width - left - right) / 2.0 + 100.0,
        ly + 38.0
    );
    h.push_str("</svg>");
}

const LINE_COLORS: [&str; 5] = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#b279a2"];

/// Frame of a weekly chart: returns the x of week `i` and y of a fraction.
fn week_frame(
    h: &mut String,
    n_weeks: usize,
    labels: &[String],
    y_label: &str,
    y_max: f64,
    y_step: f64,
    y_fmt: &dyn Fn(f64) -> String,
) -> (f64, f64, f64, f64) {
    let (left, right, top, plot_h) = (90.0, 230.0, 16.0, 260.0);
    let width = 1200.0;
    let plot_w = width - left - right;
    let height = top + plot_h + 60.0;
    let _ = write!(
        h,
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">"
    );
    let mut t = 0.0;
    while t <= y_max + 1e-9 {
        let y = top + plot_h - t / y_max * plot_h;
        let _ = write!(
            h,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#dde3ea\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#445\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            y_fmt(t)
        );
        t += y_step;
    }
    let step = (n_weeks / 12).max(1);
    let slot = plot_w / n_weeks.max(1) as f64;
    for (i, l) in labels.iter().enumerate() {
        if i % step == 0 {
            let _ = write!(
                h,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#445\">{}</text>",
                left + (i as f64 + 0.5) * slot,
                top + plot_h + 16.0,
                esc(l)
            );
        }
    }
    let _ = write!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#223\">week starting (UTC date)</text><text x=\"16\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#223\" transform=\"rotate(-90 16 {:.1})\">{}</text>",
        left + plot_w / 2.0,
        top + plot_h + 40.0,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(y_label)
    );
    (left, top, slot, plot_h)
}

fn week_labels(report: &Report) -> Vec<String> {
    report
        .weekly
        .iter()
        .map(|w| w.week_start.rfc3339()[..10].to_string())
        .collect()
}

fn adherence_chart(h: &mut String, report: &Report) {
    let labels = week_labels(report);
    if labels.is_empty() {
        return;
    }
    let (left, top, slot, plot_h) = week_frame(
        h,
        labels.len(),
        &labels,
        "on time, % of milestones",
        1.0,
        0.2,
        &|t| format!("{:.0}%", t * 100.0),
    );
    let y = |f: f64| top + plot_h - f * plot_h;
    for (k, m) in crate::PLANNED_MILESTONES.iter().enumerate() {
        let pts: Vec<(f64, f64)> = report
            .weekly
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                w.on_time_rate
                    .get(*m)
                    .map(|&r| (left + (i as f64 + 0.5) * slot, y(r)))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        let color = LINE_COLORS[k % LINE_COLORS.len()];
        let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            h,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            path.join(" ")
        );
        for (x, yv) in &pts {
            let _ = write!(
                h,
                "<circle cx=\"{x:.1}\" cy=\"{yv:.1}\" r=\"3\" fill=\"{color}\"/>"
            );
        }
        let ly = top + 10.0 + k as f64 * 18.0;
        let lx = 1200.0 - 220.0;
        let _ = write!(
            h,
            "<line x1=\"{lx}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#223\">{m}</text>",
            lx + 20.0,
            lx + 26.0,
            ly + 4.0
        );
    }
    h.push_str("</svg>");
}

fn adherence_table(h: &mut String, report: &Report, net: &Network) {
    h.push_str("<table><tr><th class=\"l\">milestone</th><th>n</th><th>early</th><th>on time</th><th>late</th><th>on-time rate</th><th>mean dev h</th><th>p50 dev h</th><th>p90 dev h</th></tr>");
    for a in &report.plan_vs_actual {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.milestone),
            fmt_num(a.n as f64, 0),
            fmt_num(a.early as f64, 0),
            fmt_num(a.on_time as f64, 0),
            fmt_num(a.late as f64, 0),
            fmt_num(a.on_time_rate * 100.0, 1),
            fmt_num(a.deviation_hours_mean, 1),
            fmt_num(a.deviation_hours_p50, 1),
            fmt_num(a.deviation_hours_p90, 1)
        );
    }
    h.push_str("</table>");
    if report.late_milestones.is_empty() {
        return;
    }
    h.push_str("<p class=\"note\">Latest milestones against plan (local time at the milestone's location):</p><table><tr><th class=\"l\">VIN</th><th class=\"l\">model</th><th class=\"l\">milestone</th><th class=\"l\">location</th><th class=\"l\">planned (local)</th><th class=\"l\">actual (local)</th><th>late h</th></tr>");
    for d in report.late_milestones.iter().take(10) {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            esc(&d.vin),
            esc(&d.model),
            esc(&d.milestone),
            esc(&d.location),
            esc(&local_time(net, &d.location, d.planned)),
            esc(&local_time(net, &d.location, d.actual)),
            fmt_num(d.deviation_hours, 1)
        );
    }
    h.push_str("</table>");
}

fn weekly_chart(h: &mut String, report: &Report) {
    let labels = week_labels(report);
    if labels.is_empty() {
        return;
    }
    let max_w = report
        .weekly
        .iter()
        .map(|w| w.waiting_vehicle_hours)
        .fold(0.0, f64::max);
    let (y_max, y_step) = nice_axis(max_w);
    let (left, top, slot, plot_h) = week_frame(
        h,
        labels.len(),
        &labels,
        "waiting, vehicle-hours",
        y_max,
        y_step,
        &|t| fmt_num(t, 0),
    );
    for (i, w) in report.weekly.iter().enumerate() {
        let bh = w.waiting_vehicle_hours / y_max * plot_h;
        let _ = write!(
            h,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#c0392b\" opacity=\"0.8\"/>",
            left + i as f64 * slot + slot * 0.15,
            top + plot_h - bh,
            slot * 0.7
        );
    }
    let max_r = report.weekly.iter().map(|w| w.rolls).max().unwrap_or(0) as f64;
    let (r_max, r_step) = nice_axis(max_r);
    let right_x = 1200.0 - 230.0;
    let mut t = 0.0;
    while t <= r_max + 1e-9 {
        let y = top + plot_h - t / r_max * plot_h;
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#1f5f99\">{}</text>",
            right_x + 6.0,
            y + 4.0,
            fmt_num(t, 0)
        );
        t += r_step;
    }
    let pts: Vec<String> = report
        .weekly
        .iter()
        .enumerate()
        .map(|(i, w)| {
            format!(
                "{:.1},{:.1}",
                left + (i as f64 + 0.5) * slot,
                top + plot_h - w.rolls as f64 / r_max * plot_h
            )
        })
        .collect();
    let _ = write!(
        h,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f5f99\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#1f5f99\" transform=\"rotate(90 {:.1} {:.1})\" text-anchor=\"middle\">rolls per week</text>",
        pts.join(" "),
        right_x + 44.0,
        top + plot_h / 2.0,
        right_x + 44.0,
        top + plot_h / 2.0
    );
    h.push_str("</svg>");
    h.push_str("<table><tr><th class=\"l\">week starting</th><th>released</th><th>delivered</th><th>rolls</th><th>waiting veh-h</th><th>lead time p50 d</th></tr>");
    for w in &report.weekly {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            &w.week_start.rfc3339()[..10],
            fmt_num(w.released as f64, 0),
            fmt_num(w.delivered as f64, 0),
            fmt_num(w.rolls as f64, 0),
            fmt_num(w.waiting_vehicle_hours, 0),
            fmt_num(w.lead_time_days_p50, 1)
        );
    }
    h.push_str("</table>");
}

fn rolls_and_holds(h: &mut String, report: &Report) {
    let _ = write!(
        h,
        "<p class=\"note\">{} rolls ({} vehicles). Delay: the planned sailing of the next route minus that of the route rolled from.</p>",
        report.rolls.n_rolls, report.rolls.n_vehicles
    );
    h.push_str("<table><tr><th class=\"l\">cause</th><th class=\"l\">port</th><th class=\"l\">stage when rolled</th><th>rolls</th><th>delay veh-h</th></tr>");
    for r in &report.rolls.by_cause {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.reason),
            esc(&r.location),
            esc(&r.stage),
            r.n_rolls,
            fmt_num(r.delay_vehicle_hours, 0)
        );
    }
    h.push_str("</table><table><tr><th class=\"l\">hold reason</th><th class=\"l\">location</th><th>holds</th><th>vehicle-hours</th></tr>");
    for r in &report.holds {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.reason),
            esc(&r.location),
            r.n_holds,
            fmt_num(r.vehicle_hours, 0)
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_thousands_separators() {
        assert_eq!(fmt_num(13057.2, 1), "13,057.2");
        assert_eq!(fmt_num(-1234.0, 0), "-1,234");
        assert_eq!(fmt_num(0.04, 1), "0.0");
        assert_eq!(esc("<a&b>"), "&lt;a&amp;b&gt;");
    }
}
