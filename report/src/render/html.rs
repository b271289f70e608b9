//! The run as one self-contained HTML page (no network): the totals, a chart of the host
//! time each site kept blocked, and a table of sites a reviewer can sort by any column,
//! each with its stack and its fix.
//!
//! The page is three askama templates (`report/templates/`), compiled in and escaped by
//! construction: every value placed in them is HTML-escaped unless marked safe, and none
//! is. It is written as it goes: the head, then one row at a time, then the tail, so that
//! a run of 170 000 sites never holds the whole page in memory.

use askama::Template;

use pinguard_core::site::{human_bytes, human_ns};

use crate::gate::Verdict;
use crate::merge::{MergedSite, Run};
use crate::read::plural;

/// One bar of the chart: the numbers are formatted here, the template places them.
struct Bar {
    label: String,
    title: String,
    value: String,
    text_y: String,
    bar_x: String,
    bar_y: String,
    bar_width: String,
    bar_height: String,
    value_x: String,
}

/// A line under the result: what was not watched or is not whole.
enum Problem {
    Unwatched { pid: u32, path: String, reason: String },
    NotWhole(String),
}

#[derive(Template)]
#[template(path = "page_head.html", escape = "html")]
struct PageHead {
    about: Vec<(&'static str, String)>,
    result_class: &'static str,
    result_words: String,
    problems: Vec<Problem>,
    findings: u64,
    sites: usize,
    blocked: String,
    bytes: String,
    checked: u64,
    processes: usize,
    bars: Vec<Bar>,
    chart_width: String,
    chart_height: String,
}

#[derive(Template)]
#[template(path = "site_row.html", escape = "html")]
struct SiteRow {
    n: usize,
    kind: &'static str,
    dir: String,
    apis: String,
    place: String,
    stack: String,
    advice: String,
    count: u64,
    bytes: u64,
    human_bytes: String,
    blocked: u64,
    human_blocked: String,
    max: u64,
    human_max: String,
    processes: usize,
}

#[derive(Template)]
#[template(path = "page_tail.html", escape = "none")]
struct PageTail;

/// The chart's bars: the 15 sites that kept the host blocked longest.
fn bars(run: &Run) -> Vec<Bar> {
    let sites: Vec<_> = run.sites().iter().filter(|s| s.is_finding()).take(15).collect();
    let max = sites.iter().map(|s| s.totals.blocked_ns_total).max().unwrap_or(1).max(1) as f64;
    sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let y = i as f64 * ROW_H + 4.0;
            let w = (s.totals.blocked_ns_total as f64 / max * BAR_W).max(2.0);
            let mut label = format!("{}. {} {}: {}", i + 1, s.kind, s.dir_words(), s.short_where());
            if label.len() > 64 {
                label = format!("{}…", &label.chars().take(63).collect::<String>());
            }
            Bar {
                label,
                title: s.where_text(),
                value: human_ns(s.totals.blocked_ns_total).to_string(),
                text_y: format!("{:.0}", y + 15.0),
                bar_x: format!("{LABEL_W}"),
                bar_y: format!("{:.0}", y + 2.0),
                bar_width: format!("{w:.1}"),
                bar_height: format!("{:.0}", ROW_H - 6.0),
                value_x: format!("{:.0}", LABEL_W + w + 6.0),
            }
        })
        .collect()
}

const LABEL_W: f64 = 420.0;
const BAR_W: f64 = 480.0;
const ROW_H: f64 = 24.0;

/// The head of the page: what was run, the gate's result, what was not watched or is
/// not whole, the totals and the chart.
fn page_head(run: &Run) -> PageHead {
    let a = super::about(run);
    let o = run.outcome();
    let t = run.totals();
    let about: Vec<(&'static str, String)> = [
        ("command", &a.command),
        ("host", &a.host),
        ("started", &a.started),
        ("duration", &a.duration),
        ("ended with", &a.exit),
        ("pinguard", &a.pinguard),
        ("CUDA", &a.cuda),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k, v.clone()))
    .collect();
    let (result_class, result_words) = match o.verdict {
        Verdict::Findings => {
            ("bad", format!("{} at {}", plural(t.findings, "finding"), plural(t.sites as u64, "site")))
        }
        Verdict::NotWatched => {
            ("bad", "Not watched: a program ran without pinguard, so its copies were not checked".into())
        }
        Verdict::Incomplete => ("bad", "Incomplete: a report is not whole, so a finding may be missing".into()),
        Verdict::Clean if t.checked == 0 => ("good", "No findings: no async copies were made".into()),
        Verdict::Clean => ("good", format!("No findings: {} checked", plural(t.checked, "async copy"))),
    };
    let problems = o
        .failing_unwatched
        .iter()
        .chain(&o.other_unwatched)
        .map(|u| Problem::Unwatched { pid: u.pid, path: u.path.clone(), reason: u.reason.clone() })
        .chain(o.failing_problems.iter().chain(&o.accepted_problems).map(|p| Problem::NotWhole(p.text())))
        .collect();
    let bars = bars(run);
    PageHead {
        about,
        result_class,
        result_words,
        problems,
        findings: t.findings,
        sites: t.sites,
        blocked: human_ns(t.blocked_ns).to_string(),
        bytes: human_bytes(t.bytes).to_string(),
        checked: t.checked,
        processes: t.watched,
        chart_width: format!("{}", LABEL_W + BAR_W + 120.0),
        chart_height: format!("{}", ROW_H * bars.len() as f64 + 8.0),
        bars,
    }
}

/// One row of the sites table.
fn site_row(i: usize, s: &MergedSite) -> SiteRow {
    SiteRow {
        n: i + 1,
        kind: s.kind.name(),
        dir: s.dir.clone(),
        apis: s.apis.iter().cloned().collect::<Vec<_>>().join(", "),
        place: s.where_text(),
        stack: s.frames.iter().enumerate().map(|(k, f)| format!("#{k} {}\n", f.text())).collect(),
        advice: s.advice.clone(),
        count: s.totals.count,
        bytes: s.totals.bytes_total,
        human_bytes: human_bytes(s.totals.bytes_total).to_string(),
        blocked: s.totals.blocked_ns_total,
        human_blocked: human_ns(s.totals.blocked_ns_total).to_string(),
        max: s.totals.blocked_ns_max,
        human_max: human_ns(s.totals.blocked_ns_max).to_string(),
        processes: s.pids.len(),
    }
}

/// The page, written as it goes: the table's rows one at a time.
pub fn write(run: &Run, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    page_head(run).write_into(out)?;
    for (i, s) in run.sites().iter().filter(|s| s.is_finding()).enumerate() {
        site_row(i, s).write_into(out)?;
    }
    PageTail.write_into(out)
}

pub fn render(run: &Run) -> String {
    let mut out = Vec::new();
    let _ = write(run, &mut out);
    String::from_utf8(out).unwrap_or_default()
}
