//! The process's JSON Lines report (`log_path`): its header, a record per new site, and
//! periodic aggregates. The final records are written by `finish`. The schema lives in
//! `pinguard_core::events` and `docs/report-format.md`.

use std::ffi::c_void;
use std::os::unix::ffi::OsStrExt as _;
use std::sync::atomic::{AtomicBool, Ordering};

use pinguard_core::records::{self, write};
use pinguard_core::site;

use crate::base::process::{self, Process};
use crate::base::sink;
use crate::base::symbols::{self, Library};
use crate::finding::sites::{self, Site};

/// Set at start-up and in a forked child: the report is to be opened by the next
/// hooked call (a normal context, where opening may allocate).
static NEEDS_OPEN: AtomicBool = AtomicBool::new(true);

/// Is the report still to be opened (or re-opened, in a forked child)?
pub fn needs_open() -> bool {
    NEEDS_OPEN.load(Ordering::Relaxed)
}

/// Opens this process's report if it has none yet and one is wanted. Cheap when done.
pub fn open_if_needed(process: &Process) {
    if !NEEDS_OPEN.load(Ordering::Relaxed) {
        return;
    }
    NEEDS_OPEN.store(false, Ordering::Relaxed);
    if !sink::report_enabled() {
        return;
    }
    let pid = std::process::id();
    let host = host_name();
    let _ = sink::report_fd(
        || process.settings.log_path.expand(pid, &host, process.rank),
        || {
            let argv = command_line();
            let exe = std::env::current_exe().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            let iid = format!("{:016x}", process::iid());
            let header = write::Process {
                schema: records::SCHEMA,
                pinguard: env!("CARGO_PKG_VERSION"),
                commit: Some(pinguard_core::COMMIT),
                iid: &iid,
                pid,
                // SAFETY: getppid has no preconditions.
                ppid: unsafe { libc::getppid() } as u32,
                host: &host,
                exe: &exe,
                argv: &argv,
                start_ms: process::now_ms(),
                cuda_driver: cuda_version(Library::Driver, c"cuDriverGetVersion"),
                cuda_runtime: runtime_version(),
                rank: process.rank,
                framework: sites::framework_name(),
                settings: &process.options,
            };
            let mut text = String::new();
            let _ = header.write(&mut text);
            for note in &process.notes {
                text.push('\n');
                let _ = write::Note { iid: &iid, pid, text: note }.write(&mut text);
            }
            text
        },
    );
}

/// In a freshly forked child: it writes a report of its own (atomic store only).
pub fn reset_in_child() {
    NEEDS_OPEN.store(true, Ordering::Relaxed);
}

/// Writes a record (a newline is added) to this process's report, if it has one.
pub fn record(json: &str) {
    let mut line = Vec::with_capacity(json.len() + 1);
    line.extend_from_slice(json.as_bytes());
    line.push(b'\n');
    sink::record_to_open_report(&line);
}

/// The record of a new site, with the first call seen there.
pub fn site(site: &Site, first: write::First<'_>) {
    let iid = format!("{:016x}", process::iid());
    // Built here, once per site and report, not kept with the site: it was a third of a
    // site's memory (about 3.4 KiB of a 16-frame stack's 9).
    let frames_json = site::frames_json(&site.frames);
    let rec = write::Site {
        iid: &iid,
        pid: std::process::id(),
        site: site.id,
        fingerprint: &site.fingerprint,
        kind: site.kind.site_kind(),
        api: site.hook.name(),
        layer: site.hook.layer.name(),
        dir: sites::dir_text(site.dir),
        first,
        location: site.location_frame().map(|f| f.record()),
        capture: site.capture.as_ref().map(|c| write::Capture {
            id: c.begun.id,
            mode: c.begun.mode,
            begun: c.begun.location.as_ref().map(|f| f.record()),
        }),
        registered: site.registered.as_ref().map(|f| f.record()),
        frames: &frames_json,
        advice: site.advice,
        suppressed: site.suppressed,
    };
    let mut text = String::with_capacity(512 + frames_json.len());
    if rec.write(&mut text).is_ok() {
        record(&text);
    }
}

/// Every site's totals so far (a periodic aggregate).
pub fn aggregates() {
    let iid = format!("{:016x}", process::iid());
    let pid = std::process::id();
    let mut text = String::new();
    for s in sites::all() {
        let t = s.totals();
        if t.copies.count == 0 {
            continue;
        }
        if t.record(&iid, pid, s.id, false).write(&mut text).is_ok() {
            text.push('\n');
        }
    }
    if !text.is_empty() {
        sink::record_to_open_report(text.as_bytes());
    }
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn command_line() -> Vec<String> {
    std::fs::read("/proc/self/cmdline")
        .map(|b| {
            b.split(|&c| c == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
        })
        .unwrap_or_default()
}

/// The shared CUDA runtime's version, from the file it was loaded from
/// (`libcudart.so.13.0.96` -> 13000): asking the runtime itself could run inside its own
/// initialisation, where this report may be opened. A static runtime has no file.
fn runtime_version() -> Option<i32> {
    symbols::loaded_objects_matching("libcudart.so").iter().find_map(|p| {
        let real = std::fs::canonicalize(std::ffi::OsStr::from_bytes(p.to_bytes())).ok()?;
        pinguard_core::report::cudart_version_of(&real.file_name()?.to_string_lossy())
    })
}

/// The driver's CUDA version (`cuDriverGetVersion`, which never initialises the driver),
/// where libcuda is loaded already (never loads it).
fn cuda_version(library: Library, getter: &std::ffi::CStr) -> Option<i32> {
    let f = symbols::find(library, getter);
    if f.is_null() {
        return None;
    }
    // SAFETY: `(int*) -> CUresult`, unchanged since CUDA 2.2.
    let f = unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut i32) -> i32>(f) };
    let mut v = 0;
    // SAFETY: one int to write.
    (unsafe { f(&mut v) } == 0).then_some(v)
}
