//! The run as one self-contained HTML page (no network): the totals, a chart of the host
//! time each site kept blocked, and a table of sites a reviewer can sort by any column,
//! each with its stack and its fix.

use std::fmt::Write as _;

use pinguard_core::site::{human_bytes, human_ns};

use crate::gate::Verdict;
use crate::merge::Run;
use crate::read::plural;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2430; }
h1 { font-size: 20px; margin: 0 0 4px; }
.lead { color: #4a5568; max-width: 70em; }
.totals { display: flex; gap: 28px; margin: 16px 0; flex-wrap: wrap; }
.totals div b { display: block; font-size: 22px; }
table { border-collapse: collapse; width: 100%; margin-top: 12px; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 6px 8px; text-align: left; vertical-align: top; }
th { cursor: pointer; background: #f7fafc; user-select: none; white-space: nowrap; }
th:hover { background: #edf2f7; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kind-pageable { color: #b7791f; font-weight: 600; }
.kind-straddles { color: #c53030; font-weight: 600; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
pre { margin: 6px 0 0; white-space: pre-wrap; color: #4a5568; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2430; }
rect.bar { fill: #dd6b20; }
dl.about { display: flex; flex-wrap: wrap; gap: 4px 24px; margin: 8px 0; }
dl.about dt { color: #4a5568; font-size: 12px; } dl.about dd { margin: 0; }
.result { font-size: 16px; font-weight: 600; padding: 8px 12px; border-radius: 4px; display: inline-block; }
.result.good { background: #e6fffa; color: #234e52; } .result.bad { background: #fff5f5; color: #9b2c2c; }
ul.problems { color: #9b2c2c; }
"#;

const SCRIPT: &str = r#"
document.querySelectorAll('#sites th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = document.querySelector('#sites tbody');
    var rows = Array.prototype.slice.call(body.querySelectorAll('tr'));
    var down = th.getAttribute('data-dir') !== 'down';
    document.querySelectorAll('#sites th').forEach(function (h) { h.removeAttribute('data-dir'); });
    th.setAttribute('data-dir', down ? 'down' : 'up');
    rows.sort(function (a, b) {
      var x = a.children[col].getAttribute('data-v'), y = b.children[col].getAttribute('data-v');
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
      return down ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"#;

fn chart(run: &Run) -> String {
    let sites: Vec<_> = run.sites().iter().filter(|s| s.is_finding()).take(15).collect();
    if sites.is_empty() {
        return String::from("<p>No findings: nothing to chart.</p>");
    }
    let max = sites.iter().map(|s| s.blocked_ns_total).max().unwrap_or(1).max(1) as f64;
    let (label_w, bar_w, row_h) = (420.0, 480.0, 24.0);
    let mut svg = format!(
        r#"<svg id="chart" role="img" aria-label="host time blocked per site" width="{}" height="{}">"#,
        label_w + bar_w + 120.0,
        row_h * sites.len() as f64 + 8.0
    );
    for (i, s) in sites.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let w = (s.blocked_ns_total as f64 / max * bar_w).max(2.0);
        let mut label = format!("{}. {} {}: {}", i + 1, s.kind, s.dir, s.short_where());
        if label.len() > 64 {
            label = format!("{}…", &label.chars().take(63).collect::<String>());
        }
        let _ = write!(
            svg,
            r#"<text x="0" y="{:.0}">{}</text><rect class="bar" x="{label_w}" y="{:.0}" width="{w:.1}" height="{:.0}"><title>{}</title></rect><text x="{:.0}" y="{:.0}">{}</text>"#,
            y + 15.0,
            esc(&label),
            y + 2.0,
            row_h - 6.0,
            esc(&s.where_text()),
            label_w + w + 6.0,
            y + 15.0,
            human_ns(s.blocked_ns_total)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The head of the page: what was run, the gate's result, and what was not watched or
/// is not whole.
fn head(run: &Run) -> String {
    let a = super::about(run);
    let o = run.outcome();
    let t = run.totals();
    let mut out = String::from("<dl class=\"about\">");
    for (k, v) in [
        ("command", &a.command),
        ("host", &a.host),
        ("started", &a.started),
        ("duration", &a.duration),
        ("ended with", &a.exit),
        ("pinguard", &a.pinguard),
        ("CUDA", &a.cuda),
    ] {
        if !v.is_empty() {
            let _ = write!(out, "<div><dt>{k}</dt><dd><code>{}</code></dd></div>", esc(v));
        }
    }
    out.push_str("</dl>");
    let (class, words) = match o.verdict {
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
    let _ = write!(out, r#"<p id="result" class="result {class}">{}</p>"#, esc(&words));
    let mut items = String::new();
    for u in o.failing_unwatched.iter().chain(&o.other_unwatched) {
        let _ = write!(items, "<li>not watched: pid {} <code>{}</code>: {}</li>", u.pid, esc(&u.path), esc(&u.reason));
    }
    for p in o.failing_problems.iter().chain(&o.accepted_problems) {
        let _ = write!(items, "<li>report not whole: {}</li>", esc(&p.text()));
    }
    if !items.is_empty() {
        let _ = write!(out, r#"<ul class="problems">{items}</ul>"#);
    }
    out
}

/// One row of the sites table.
fn row(i: usize, s: &crate::merge::MergedSite) -> String {
    let apis = s.apis.iter().cloned().collect::<Vec<_>>().join(", ");
    let stack: String = s.frames.iter().enumerate().map(|(k, f)| format!("#{k} {}\n", f.text())).collect();
    format!(
        r#"<tr class="site"><td class="n" data-v="{n}">{n}</td><td data-v="{kind}"><span class="kind-{kind}">{kind}</span> {dir}</td><td data-v="{apis}"><code>{apis}</code></td><td data-v="{place}"><details><summary><code>{place}</code></summary><pre>{stack}</pre><p>{advice}</p></details></td><td class="n" data-v="{count}">{count}</td><td class="n" data-v="{bytes}">{hbytes}</td><td class="n" data-v="{blocked}">{hblocked}</td><td class="n" data-v="{max}">{hmax}</td><td class="n" data-v="{procs}">{procs}</td></tr>"#,
        n = i + 1,
        kind = s.kind.name(),
        dir = esc(&s.dir),
        apis = esc(&apis),
        place = esc(&s.where_text()),
        stack = esc(&stack),
        advice = esc(&s.advice),
        count = s.count,
        bytes = s.bytes_total,
        hbytes = human_bytes(s.bytes_total),
        blocked = s.blocked_ns_total,
        hblocked = human_ns(s.blocked_ns_total),
        max = s.blocked_ns_max,
        hmax = human_ns(s.blocked_ns_max),
        procs = s.pids.len(),
    )
}

/// The page, written as it goes: the table's rows one at a time.
pub fn write(run: &Run, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let t = run.totals();
    write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pinguard report</title><style>{STYLE}</style></head><body>
<h1>pinguard: asynchronous CUDA copies from pageable host memory</h1>
{head}
<p class="lead">A pageable "async" copy is not asynchronous: CUDA stages it through a pinned buffer, so the call keeps the host thread blocked until the stream drains and the copy ends, and the copy runs at about 1/8 of pinned bandwidth. Each row is one place in the code that made such copies; click a column to sort, a place to see its stack and the fix.</p>
<div class="totals"><div><b id="findings">{findings}</b>findings</div><div><b id="sites-count">{sites}</b>sites</div><div><b>{blocked}</b>host time blocked</div><div><b>{bytes}</b>copied from pageable memory</div><div><b>{checked}</b>async copies checked</div><div><b>{processes}</b>processes watched</div></div>
<h2>Host time blocked, by site</h2>
{chart}
<h2>Sites</h2>
<table id="sites"><thead><tr><th>#</th><th>finding</th><th>API</th><th>where</th><th>copies</th><th>bytes</th><th>host blocked</th><th>at most once</th><th>processes</th></tr></thead><tbody>"#,
        findings = t.findings,
        sites = t.sites,
        blocked = human_ns(t.blocked_ns),
        bytes = human_bytes(t.bytes),
        checked = t.checked,
        processes = t.watched,
        chart = chart(run),
        head = head(run),
    )?;
    for (i, s) in run.sites().iter().filter(|s| s.is_finding()).enumerate() {
        out.write_all(row(i, s).as_bytes())?;
    }
    write!(out, "</tbody></table>\n<script>{SCRIPT}</script>\n</body></html>\n")
}

pub fn render(run: &Run) -> String {
    let mut out = Vec::new();
    let _ = write(run, &mut out);
    String::from_utf8(out).unwrap_or_default()
}
