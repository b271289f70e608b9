//! Reading and rendering a million-event report (`cargo bench -p pinguard-report
//! --bench render`): 64 processes of 2 000 sites each, with periodic aggregates, a
//! million records in all. Prints the time to read and merge, to render each format, and
//! the peak memory (memory grows with sites and processes, not with records).

use std::io::Write;
use std::time::Instant;

use pinguard_core::records::{self, write};
use pinguard_core::site::{CopyTotals, FrameInfo, FrameKind, SiteTotals, frames_json};
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
    // SITES (per process), DISTINCT=1 (no site shared between processes: as many merged
    // sites as sites in all) and FRAMES (frames per stack) scale it: the 170 000
    // merged sites are `SITES=2656 DISTINCT=1 FRAMES=16 ROUNDS=1`.
    let env = |k: &str, d: u32| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (processes, sites) = (64u32, env("SITES", 2_000));
    let distinct = env("DISTINCT", 0) == 1;
    let depth = env("FRAMES", 1) as usize;
    let mut records = 0u64;
    let t0 = Instant::now();
    for p in 0..processes {
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("pinguard.{p}.jsonl"))).unwrap());
        let iid = format!("{p:016x}");
        let mut line = String::new();
        let header = write::Process {
            schema: records::SCHEMA,
            pinguard: "0.1.0",
            commit: None,
            iid: &iid,
            pid: 1000 + p,
            ppid: 1,
            host: "h",
            exe: "/bin/app",
            argv: &["app".into()],
            start_ms: 1,
            cuda_driver: Some(13000),
            cuda_runtime: Some(13000),
            rank: None,
            framework: "cuda",
            settings: "",
        };
        header.write(&mut line).unwrap();
        writeln!(f, "{line}").unwrap();
        records += 1;
        for s in 0..sites {
            let id = if distinct { p * sites + s } else { s };
            let frames: Vec<FrameInfo> = (0..depth)
                .map(|d| FrameInfo {
                    kind: FrameKind::Native,
                    address: 0x1000 + id as usize + d,
                    function: Some(format!("upload_{id}_{d}").as_str().into()),
                    file: Some("src/app.cpp".into()),
                    line: std::num::NonZeroU32::new(id + 1),
                    module: Some("/bin/app".into()),
                    offset: 0x1000 + id as usize + d,
                })
                .collect();
            let first = write::First {
                bytes: 4096,
                host: 0x7f00_0000,
                stream: 0,
                stream_kind: "legacy-default",
                element: None,
                tid: 1,
                thread: Some("bench"),
                result: Some(0),
                outcome: "completed",
                blocked_ns: 1000,
                time_ms: 2,
            };
            let frames_text = frames_json(&frames);
            let rec = write::Site {
                iid: &iid,
                pid: 1000 + p,
                site: s,
                fingerprint: &format!("{id:016x}"),
                kind: records::SiteKind::Pageable,
                api: "cudaMemcpyAsync",
                layer: "runtime",
                dir: "H2D",
                first,
                location: Some(frames[0].record()),
                capture: None,
                registered: None,
                frames: &frames_text,
                advice: "pin it once",
                suppressed: false,
            };
            line.clear();
            rec.write(&mut line).unwrap();
            writeln!(f, "{line}").unwrap();
            records += 1;
        }
        for r in 0..rounds {
            for s in 0..sites {
                let copies = CopyTotals {
                    count: u64::from(r + 1),
                    bytes_total: 4096 * u64::from(r + 1),
                    bytes_min: 4096,
                    bytes_max: 4096,
                    blocked_ns_total: 1000,
                    blocked_ns_max: 1000,
                    first_ms: 2,
                    last_ms: 3,
                    errors: 0,
                };
                let t = SiteTotals { copies, streams_seen: 1, ..Default::default() };
                line.clear();
                t.record(&iid, 1000 + p, s, r + 1 == rounds).write(&mut line).unwrap();
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
    ] {
        let t = Instant::now();
        let out = f(&run);
        formats.push(format!("{name} {:.2} s ({} KiB)", t.elapsed().as_secs_f64(), out.len() / 1024));
    }
    // The formats that hold every site are written as `pinguard report -o` writes them:
    // streamed into a file.
    type Writer = Box<dyn Fn(&merge::Run, &mut dyn Write) -> std::io::Result<()>>;
    for (name, f) in [
        ("json", Box::new(render::json::write) as Writer),
        ("sarif", Box::new(|r: &merge::Run, w: &mut dyn Write| render::sarif::write(r, std::path::Path::new("/"), w))),
        ("html", Box::new(render::html::write)),
    ] {
        let t = Instant::now();
        let path = dir.join(format!("out.{name}"));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f(&run, &mut w).unwrap();
        w.flush().unwrap();
        drop(w);
        let kib = std::fs::metadata(&path).unwrap().len() / 1024;
        formats.push(format!("{name} {:.2} s ({kib} KiB)", t.elapsed().as_secs_f64()));
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
