//! Reading report files, line by line: memory grows with the number of processes and
//! sites, never with the number of records. A file cut short (a process killed while
//! writing) is read up to its last whole line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One frame of a site's stack.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Frame {
    pub kind: String,
    pub address: String,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub module: Option<String>,
    pub offset: String,
}

impl Frame {
    /// `main at app.cpp:12 (app+0x11b9)`, or what is known of it.
    pub fn text(&self) -> String {
        let module = self.module.as_deref().map(|m| m.rsplit('/').next().unwrap_or(m)).unwrap_or("?");
        let place = format!("{module}+{}", self.offset);
        match (&self.function, &self.file, self.line) {
            (Some(f), Some(file), Some(line)) => format!("{f} at {file}:{line} ({place})"),
            (Some(f), _, _) => format!("{f} ({place})"),
            _ => place,
        }
    }
}

/// The first call seen at a site.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FirstCall {
    pub bytes: u64,
    pub host: String,
    pub stream: String,
    pub stream_kind: String,
    pub element: Option<u64>,
    pub tid: i64,
    pub result: Option<i32>,
    pub outcome: String,
    pub blocked_ns: u64,
    pub time_ms: u64,
}

/// A `site` record.
#[derive(Clone, Debug, Deserialize)]
pub struct Site {
    pub site: u32,
    pub fingerprint: String,
    pub kind: String,
    pub api: String,
    pub layer: String,
    pub dir: String,
    pub first: FirstCall,
    pub location: Option<Frame>,
    pub frames: Vec<Frame>,
    pub advice: String,
    pub suppressed: bool,
}

impl Site {
    pub fn is_finding(&self) -> bool {
        !self.suppressed && (self.kind == "pageable" || self.kind == "straddles")
    }
}

/// An `aggregate` record: a site's totals.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Totals {
    pub site: u32,
    #[serde(rename = "final")]
    pub last: bool,
    pub count: u64,
    pub bytes_total: u64,
    pub bytes_min: u64,
    pub bytes_max: u64,
    pub blocked_ns_total: u64,
    pub blocked_ns_max: u64,
    pub first_ms: u64,
    pub last_ms: u64,
    pub errors: u64,
    pub streams: Vec<String>,
    pub streams_more: bool,
}

/// The `summary` record.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Summary {
    pub end: String,
    pub time_ms: u64,
    pub sites: u64,
    pub findings: u64,
    pub counts: BTreeMap<String, u64>,
}

/// Everything one process wrote.
#[derive(Clone, Debug, Default)]
pub struct Process {
    pub iid: String,
    pub pid: u32,
    pub ppid: u32,
    pub host: String,
    pub exe: String,
    pub argv: Vec<String>,
    pub start_ms: u64,
    pub cuda_driver: Option<i32>,
    pub framework: String,
    pub settings: String,
    pub sites: BTreeMap<u32, Site>,
    /// The latest totals of each site (the final ones when the process ended normally).
    pub totals: BTreeMap<u32, Totals>,
    pub summary: Option<Summary>,
    pub notes: Vec<String>,
    /// Where the process's records came from.
    pub file: PathBuf,
}

#[derive(Deserialize)]
struct Header {
    iid: String,
    pid: u32,
    #[serde(default)]
    ppid: u32,
    #[serde(default)]
    host: String,
    #[serde(default)]
    exe: String,
    #[serde(default)]
    argv: Vec<String>,
    #[serde(default)]
    start_ms: u64,
    cuda_driver: Option<i32>,
    #[serde(default)]
    framework: String,
    #[serde(default)]
    settings: String,
    schema: u32,
}

#[derive(Deserialize)]
struct Tag {
    event: String,
    iid: String,
    pid: u32,
}

/// What a file held, and how it ended.
#[derive(Debug, Default)]
pub struct FileRead {
    pub processes: Vec<Process>,
    /// Lines that were not whole records (a cut last line, or garbage).
    pub bad_lines: usize,
    /// A record of a schema this reader does not know.
    pub unknown_schema: Option<u32>,
}

/// Reads one report file.
pub fn file(path: &Path) -> std::io::Result<FileRead> {
    let reader = BufReader::new(std::fs::File::open(path)?);
    let mut out = FileRead::default();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for line in reader.split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(tag) = serde_json::from_slice::<Tag>(&line) else {
            out.bad_lines += 1;
            continue;
        };
        if tag.event == "process" {
            let Ok(h) = serde_json::from_slice::<Header>(&line) else {
                out.bad_lines += 1;
                continue;
            };
            if h.schema != pinguard_core::events::SCHEMA {
                out.unknown_schema = Some(h.schema);
            }
            index.insert(h.iid.clone(), out.processes.len());
            out.processes.push(Process {
                iid: h.iid,
                pid: h.pid,
                ppid: h.ppid,
                host: h.host,
                exe: h.exe,
                argv: h.argv,
                start_ms: h.start_ms,
                cuda_driver: h.cuda_driver,
                framework: h.framework,
                settings: h.settings,
                file: path.to_path_buf(),
                ..Default::default()
            });
            continue;
        }
        // A record before its header (a header lost to a crash): a process of its own.
        let i = *index.entry(tag.iid.clone()).or_insert_with(|| {
            out.processes.push(Process {
                iid: tag.iid.clone(),
                pid: tag.pid,
                file: path.to_path_buf(),
                ..Default::default()
            });
            out.processes.len() - 1
        });
        let p = &mut out.processes[i];
        let ok = match tag.event.as_str() {
            "site" => serde_json::from_slice::<Site>(&line).map(|s| {
                p.sites.insert(s.site, s);
            }),
            "aggregate" => serde_json::from_slice::<Totals>(&line).map(|t| {
                p.totals.insert(t.site, t);
            }),
            "summary" => serde_json::from_slice::<Summary>(&line).map(|s| p.summary = Some(s)),
            "note" => serde_json::from_slice::<serde_json::Value>(&line).map(|v| {
                p.notes.push(v["text"].as_str().unwrap_or("").to_string());
            }),
            _ => Ok(()),
        };
        if ok.is_err() {
            out.bad_lines += 1;
        }
    }
    Ok(out)
}

/// The report files among `paths`: files as given, folders' `*.jsonl` files.
pub fn files_in(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write as _;

    fn write_tmp(bytes: &[u8]) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "pinguard-read-{}-{}.jsonl",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    const HEADER: &str = r#"{"event":"process","schema":1,"pinguard":"0.1.0","iid":"a","pid":7,"ppid":1,"host":"h","exe":"/x","argv":["x"],"start_ms":1,"cuda_driver":null,"framework":"cuda","settings":""}"#;
    const AGG: &str = r#"{"event":"aggregate","iid":"a","pid":7,"site":1,"final":true,"count":3,"bytes_total":30,"bytes_min":10,"bytes_max":10,"blocked_ns_total":5,"blocked_ns_max":2,"first_ms":1,"last_ms":2,"errors":0,"streams":["0x0"],"streams_more":false}"#;

    #[test]
    fn a_file_cut_short_is_read_up_to_its_last_whole_line() {
        let text = format!("{HEADER}\n{AGG}\n{}", &AGG[..AGG.len() / 2]);
        let got = file(&write_tmp(text.as_bytes())).unwrap();
        assert_eq!(got.bad_lines, 1);
        assert_eq!(got.processes.len(), 1);
        assert_eq!(got.processes[0].totals[&1].count, 3);
    }

    proptest! {
        /// Fuzzing the report reader: garbage, cut lines and random bytes never make it
        /// panic, and every whole record is still read.
        #[test]
        fn any_bytes_are_read_without_panic(noise in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..400) {
            let mut bytes = format!("{HEADER}\n{AGG}\n").into_bytes();
            bytes.extend_from_slice(&noise);
            bytes.push(b'\n');
            bytes.extend_from_slice(&AGG.as_bytes()[..cut.min(AGG.len())]);
            let got = file(&write_tmp(&bytes)).unwrap();
            prop_assert!(!got.processes.is_empty());
            prop_assert_eq!(got.processes[0].totals.get(&1).map(|t| t.count), Some(3));
        }
    }
}
