//! A baseline: the sites a team already knows about, so that a gate fails only on new
//! ones (`pinguard run --baseline`, `pinguard report --baseline`). A legacy codebase can
//! adopt pinguard today and stop regressions from tomorrow.
//!
//! A site's baseline key survives rebuilds that move code: the verdict, the direction,
//! and for the site's location and its two callers, the function and the source file's
//! name, without lines or addresses. (Without symbols, only the module and the offset
//! are known, and such a key changes with a rebuild.) Two copies in one function share a
//! key: a new copy in a function the baseline already holds is not new to it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::merge::{self, MergedSite};
use crate::read::Frame;

/// How many frames, from the location up, a key covers.
const KEY_FRAMES: usize = 3;

/// The key of a site whose stack from its location up is `frames`.
pub fn key(kind: &str, dir: &str, frames: &[Frame]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    };
    eat(kind);
    eat(dir);
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    for f in frames.iter().take(KEY_FRAMES) {
        match (&f.function, &f.file, &f.module) {
            (Some(func), Some(file), _) => {
                eat(func);
                eat(&base(file));
            }
            (Some(func), None, module) => {
                eat(func);
                eat(&module.as_deref().map(base).unwrap_or_default());
            }
            (None, _, module) => {
                eat(&module.as_deref().map(base).unwrap_or_default());
                eat(&f.offset);
            }
        }
    }
    format!("{h:016x}")
}

/// The keys of the finding sites a baseline holds. `path` is a run folder or report
/// files (as `pinguard report` reads them), a JSON or baseline file that
/// `pinguard report --format json|baseline` wrote, or a SARIF file it wrote.
pub fn load(path: &Path) -> Result<BTreeSet<String>, String> {
    let name = path.display();
    if path.is_dir() || path.extension().is_some_and(|e| e == "jsonl") {
        let run = merge::run(&[path.to_path_buf()]).map_err(|e| format!("baseline {name}: {e}"))?;
        return Ok(run.sites().iter().filter(|s| s.is_finding()).map(|s| s.baseline_key.clone()).collect());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("baseline {name}: {e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("baseline {name}: not a pinguard report, baseline or SARIF file: {e}"))?;
    if let Some(runs) = v["runs"].as_array() {
        return Ok(runs
            .iter()
            .flat_map(|r| r["results"].as_array().into_iter().flatten())
            .filter_map(|r| r["partialFingerprints"]["pinguardSite/v2"].as_str().map(str::to_string))
            .collect());
    }
    let sites = v["sites"].as_array().ok_or(format!("baseline {name}: no sites in it"))?;
    Ok(sites
        .iter()
        .filter(|s| !s["suppressed"].as_bool().unwrap_or(false))
        .filter(|s| {
            matches!(
                s["kind"].as_str(),
                Some("pageable" | "straddles" | "captured" | "released_while_registered" | "pinned_churn")
            )
        })
        .filter_map(|s| s["baseline_key"].as_str().map(str::to_string))
        .collect())
}

/// `pinguard report --format baseline`: the finding sites' keys, with where each is (for
/// the people who review the file in a pull request).
pub fn render(sites: &[MergedSite]) -> String {
    let rows: Vec<serde_json::Value> = sites
        .iter()
        .filter(|s| s.is_finding())
        .map(|s| {
            serde_json::json!({
                "baseline_key": s.baseline_key, "kind": s.kind, "dir": s.dir, "where": s.where_text(),
            })
        })
        .collect();
    let doc = serde_json::json!({ "pinguard_baseline": 1, "sites": rows });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str, line: u32, offset: &str) -> Frame {
        Frame {
            function: Some(function.into()),
            file: Some(file.into()),
            line: Some(line),
            module: Some("/build/app".into()),
            offset: offset.into(),
            ..Default::default()
        }
    }

    #[test]
    fn keys_ignore_lines_addresses_and_folders_but_not_functions() {
        let a = [frame("upload", "/src/a.cpp", 10, "0x100"), frame("main", "/src/a.cpp", 40, "0x200")];
        let moved = [frame("upload", "/other/a.cpp", 17, "0x180"), frame("main", "/other/a.cpp", 52, "0x2c0")];
        assert_eq!(key("pageable", "H2D", &a), key("pageable", "H2D", &moved));
        let other = [frame("download", "/src/a.cpp", 10, "0x100"), frame("main", "/src/a.cpp", 40, "0x200")];
        assert_ne!(key("pageable", "H2D", &a), key("pageable", "H2D", &other));
        assert_ne!(key("pageable", "H2D", &a), key("pageable", "D2H", &a));
    }
}
