//! The CPython layout table (core/src/py_layout.rs) against the interpreters' own
//! headers: testing/probes/py_layout.c, compiled against each CPython whose headers are
//! here (Debian's python3-dev in CI; pyenv's versions where present), prints every offset
//! with `offsetof`; the table must say the same, and must know every version probed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use pinguard_core::py_layout::for_version;

/// Include folders of CPython 3.10+ found here, each with its internal headers.
fn header_folders() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut roots = vec![PathBuf::from("/usr/include")];
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(home.join(".pyenv/versions")) {
        let mut more: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("include")).collect();
        more.sort();
        roots.extend(more);
    }
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else { continue };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("python3.")))
            .filter(|p| p.join("Python.h").exists() && p.join("cpython/pystate.h").exists())
            .collect();
        dirs.sort();
        found.extend(dirs);
    }
    found
}

#[test]
fn the_layout_table_matches_each_cpythons_own_headers() {
    let probe = concat!(env!("CARGO_MANIFEST_DIR"), "/../testing/probes/py_layout.c");
    let out_dir = std::env::temp_dir().join(format!("pinguard-py-layout-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut checked = Vec::new();
    for (i, inc) in header_folders().into_iter().enumerate() {
        let minor: u8 = inc.file_name().unwrap().to_str().unwrap()["python3.".len()..].parse().unwrap_or(0);
        if minor < 10 {
            continue;
        }
        let exe = out_dir.join(format!("probe{i}"));
        let built = Command::new("cc")
            .arg(format!("-I{}", inc.display()))
            .arg(format!("-I{}", inc.join("internal").display()))
            .arg(probe)
            .arg("-o")
            .arg(&exe)
            .output()
            .unwrap();
        assert!(built.status.success(), "{}: {}", inc.display(), String::from_utf8_lossy(&built.stderr));
        let printed = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
        let probed: BTreeMap<String, i64> = printed
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect();
        let hex = probed["version_hex"];
        let (major, minor) = ((hex >> 24) as u8, ((hex >> 16) & 0xff) as u8);
        let layout =
            for_version(major, minor).unwrap_or_else(|| panic!("{}: no layout for {major}.{minor}", inc.display()));
        let table: BTreeMap<String, i64> = layout.probe_lines().into_iter().collect();
        for (k, v) in &table {
            assert_eq!(probed.get(k), Some(v), "{} ({major}.{minor}): {k}", inc.display());
        }
        // What the headers have that the table leaves out, on purpose: 3.11's owner byte
        // (its chain holds Python frames only; entry frames are flagged, not shims).
        let unused: Vec<&String> = probed.keys().filter(|k| !table.contains_key(*k) && *k != "version_hex").collect();
        let allowed: &[&str] = if (major, minor) == (3, 11) { &["frame.owner"] } else { &[] };
        assert!(
            unused.iter().all(|k| allowed.contains(&k.as_str())),
            "{}: not in the table: {unused:?}",
            inc.display()
        );
        checked.push(format!("{} ({major}.{minor}, {} offsets)", inc.display(), table.len()));
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(!checked.is_empty(), "no CPython headers found (scripts/setup.sh installs python3-dev)");
    eprintln!("layouts checked against: {}", checked.join("; "));
}
