//! The line-table decoders against Python itself: every code object of a sample program
//! (testing/probes/py_lines_dump.py), on every CPython 3.10+ found here (`python3` on the
//! path, Debian's, and pyenv's versions), must decode to the ranges `code.co_lines()`
//! gives. CI's Debian python3 is always among them.

use std::path::{Path, PathBuf};
use std::process::Command;

use pinguard_core::py_lines::{LineRange, LineTableFormat, line_at, ranges};

/// The line of each 2-byte code unit, from ranges.
fn per_unit(ranges: &[LineRange]) -> Vec<Option<i32>> {
    let mut out = Vec::new();
    for r in ranges {
        assert_eq!(r.start as usize, out.len() * 2, "ranges must be contiguous: {ranges:?}");
        out.extend(std::iter::repeat_n(r.line, ((r.end - r.start) / 2) as usize));
    }
    out
}

fn interpreters() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = vec![PathBuf::from("python3"), PathBuf::from("/usr/bin/python3")];
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    for root in [home.join(".pyenv/versions"), PathBuf::from("/opt/python")] {
        let Ok(entries) = std::fs::read_dir(&root) else { continue };
        let mut more: Vec<PathBuf> =
            entries.flatten().map(|e| e.path().join("bin/python3")).filter(|p| p.exists()).collect();
        more.sort();
        found.extend(more);
    }
    found
}

fn dump(python: &Path) -> Option<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../testing/probes/py_lines_dump.py");
    let out = Command::new(python).arg(script).output().ok()?;
    if !out.status.success() {
        // Below 3.10 the script's co_lines() does not exist: not a version pinguard reads.
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn decoded_line_tables_match_co_lines_on_every_interpreter_found() {
    let mut checked = Vec::new();
    for python in interpreters() {
        let Some(d) = dump(&python) else { continue };
        let version = (d["version"][0].as_u64().unwrap(), d["version"][1].as_u64().unwrap());
        let format = if version >= (3, 11) { LineTableFormat::Locations } else { LineTableFormat::Pep626 };
        let codes = d["codes"].as_array().unwrap();
        for code in codes {
            let table: Vec<u8> = (0..code["table"].as_str().unwrap().len() / 2)
                .map(|i| u8::from_str_radix(&code["table"].as_str().unwrap()[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            let want: Vec<LineRange> = code["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| LineRange {
                    start: l[0].as_u64().unwrap() as u32,
                    end: l[1].as_u64().unwrap() as u32,
                    line: l[2].as_i64().map(|n| n as i32),
                })
                .collect();
            let first_line = code["first_line"].as_i64().unwrap() as i32;
            let got = ranges(&table, first_line, format);
            // Instruction by instruction (versions differ in joining neighbours of one
            // line), over the whole code: the same line, or the same lack of one.
            let name = code["name"].as_str().unwrap();
            assert_eq!(per_unit(&got), per_unit(&want), "{} {version:?}: {name}", python.display());
            for r in &want {
                let shown = r.line.and_then(|l| u32::try_from(l).ok()).filter(|l| *l > 0);
                assert_eq!(line_at(&table, first_line, format, r.start), shown, "{}: {name}", python.display());
            }
        }
        checked.push(format!("{} ({}.{}, {} code objects)", python.display(), version.0, version.1, codes.len()));
    }
    assert!(!checked.is_empty(), "no CPython 3.10+ found: python3 must be on the path");
    eprintln!("line tables checked on: {}", checked.join("; "));
}
