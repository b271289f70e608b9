//! Reading and rendering a million-event report (`cargo bench -p pinguard-report
//! --bench render`): 64 processes of 2 000 sites each, with periodic aggregates, a
//! million records in all. Prints the time to read and merge, to render each format, and
//! the peak memory (memory grows with sites and processes, not with records).

use std::io::Write;
use std::time::Instant;

use pinguard_core::events::{self, FirstCall, ProcessHeader, SiteRecord};
use pinguard_core::site::{FrameInfo, FrameKind, SiteTotals, frames_json};
use pinguard_report::{merge, render};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("pinguard-render-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rounds: u32 = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
    let (processes, sites) = (64u32, 2_000u32);
    let mut records = 0u64;
    let t0 = Instant::now();
    for p in 0..processes {
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("pinguard.{p}.jsonl"))).unwrap());
        let iid = format!("{p:016x}");
        let mut line = String::new();
        let header = ProcessHeader {
            iid: &iid,
            pid: 1000 + p,
            ppid: 1,
            host: "h",
            exe: "/bin/app",
            argv: &["app".into()],
            start_ms: 1,
            cuda_driver: Some(13000),
            cuda_runtime: Some(13000),
            framework: "cuda",
            settings: "",
        };
        events::write_process(&mut line, &header).unwrap();
        writeln!(f, "{line}").unwrap();
        records += 1;
        for s in 0..sites {
            let frames = [FrameInfo {
                kind: FrameKind::Native,
                address: 0x1000 + s as usize,
                function: Some(format!("upload_{s}").as_str().into()),
                file: Some("src/app.cpp".into()),
                line: std::num::NonZeroU32::new(s + 1),
                module: Some("/bin/app".into()),
                offset: 0x1000 + s as usize,
            }];
            let first = FirstCall {
                bytes: 4096,
                host: 0x7f00_0000,
                stream: 0,
                stream_kind: "legacy-default",
                element: None,
                tid: 1,
                result: Some(0),
                outcome: "completed",
                blocked_ns: 1000,
                time_ms: 2,
            };
            let rec = SiteRecord {
                iid: &iid,
                pid: 1000 + p,
                site: s,
                fingerprint: &format!("{s:016x}"),
                kind: "pageable",
                api: "cudaMemcpyAsync",
                layer: "runtime",
                dir: "H2D",
                first,
                location: Some(&frames[0]),
                frames_json: &frames_json(&frames),
                advice: "pin it once",
                suppressed: false,
            };
            line.clear();
            events::write_site(&mut line, &rec).unwrap();
            writeln!(f, "{line}").unwrap();
            records += 1;
        }
        for r in 0..rounds {
            for s in 0..sites {
                let t = SiteTotals {
                    count: u64::from(r + 1),
                    bytes_total: 4096 * u64::from(r + 1),
                    bytes_min: 4096,
                    bytes_max: 4096,
                    blocked_ns_total: 1000,
                    blocked_ns_max: 1000,
                    first_ms: 2,
                    last_ms: 3,
                    streams_seen: 1,
                    ..Default::default()
                };
                line.clear();
                events::write_aggregate(&mut line, &iid, 1000 + p, s, &t, r + 1 == rounds).unwrap();
                writeln!(f, "{line}").unwrap();
                records += 1;
            }
        }
    }
    let write_s = t0.elapsed().as_secs_f64();
    let bytes: u64 = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let rss_before = peak_rss_kib();
    let t1 = Instant::now();
    let run = merge::run(std::slice::from_ref(&dir)).unwrap();
    let sites_merged = run.sites().len();
    let read_s = t1.elapsed().as_secs_f64();
    let mut formats = Vec::new();
    for (name, f) in [
        ("text", Box::new(|r: &merge::Run| render::text::render(r, 20)) as Box<dyn Fn(&merge::Run) -> String>),
        ("markdown", Box::new(|r| render::markdown::render(r, 20))),
        ("json", Box::new(render::json::render)),
        ("sarif", Box::new(|r| render::sarif::render(r, std::path::Path::new("/")))),
        ("html", Box::new(render::html::render)),
    ] {
        let t = Instant::now();
        let out = f(&run);
        formats.push(format!("{name} {:.2} s ({} KiB)", t.elapsed().as_secs_f64(), out.len() / 1024));
    }
    println!(
        "render: {records} records ({} MiB) in {processes} files written in {write_s:.1} s; read and merged in {read_s:.2} s ({sites_merged} merged sites); {}; peak RSS {} MiB (before reading {} MiB)",
        bytes >> 20,
        formats.join(", "),
        peak_rss_kib() >> 10,
        rss_before >> 10
    );
    let _ = std::fs::remove_dir_all(&dir);
}
