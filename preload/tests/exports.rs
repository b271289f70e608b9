//! The export list is exact: every hook declared in `preload/src/interpose/hooks.rs`, `dlsym`, the exec
//! and spawn functions `preload/src/interpose/run_marks.rs` exports and the C library's release
//! functions `preload/src/interpose/releases.rs` exports; nothing else, and no version node on
//! any of them (an unversioned export satisfies a program's
//! versioned reference such as `cudaMemcpyAsync@libcudart.so.13`; a named one would not).

#[path = "../../testing/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn exports_are_exactly_the_hook_table() {
    // Declarations read `watch runtime cudaMemcpyAsync | cudaMemcpyAsync_ptsz (...)`.
    let table = std::fs::read_to_string(support::repo_root().join("preload/src/interpose/hooks.rs")).unwrap();
    let body = table.split("\ndeclare_hooks! {").nth(1).expect("the declare_hooks! invocation");
    let mut want = BTreeSet::new();
    for line in body.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3 && ["watch", "route"].contains(&words[0]) && ["runtime", "driver"].contains(&words[1]) {
            want.insert(words[2].to_string());
            if words.get(3) == Some(&"|") {
                want.insert(words[4].to_string());
            }
        }
    }
    want.insert("dlsym".into());
    assert!(want.len() > 50, "parsed {} rows", want.len());
    // The exec family and the C library's release functions: `#[cfg_attr(not(test),
    // unsafe(no_mangle))]`, then within two lines `pub unsafe extern "C" fn NAME(`.
    let mut exported_by = |file: &str| {
        let text = std::fs::read_to_string(support::repo_root().join(file)).unwrap();
        let mut names = Vec::new();
        for lines in text.lines().collect::<Vec<_>>().windows(3) {
            if lines[0].contains("unsafe(no_mangle)")
                && let Some(rest) = lines[1..].iter().find_map(|l| l.trim().strip_prefix("pub unsafe extern \"C\" fn "))
            {
                let name = rest.split('(').next().unwrap().to_string();
                want.insert(name.clone());
                names.push(name);
            }
        }
        names
    };
    let execs = exported_by("preload/src/interpose/run_marks.rs");
    assert_eq!(execs.len(), 6, "execve, execv, execvp, execvpe, posix_spawn, posix_spawnp: {execs:?}");
    let releases = exported_by("preload/src/interpose/releases.rs");
    assert_eq!(releases, ["free", "realloc", "munmap", "mremap"]);

    let out = Command::new("readelf").args(["--dyn-syms", "-W"]).arg(support::lib_path()).output().expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut got = BTreeSet::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // Num: Value Size Type Bind Vis Ndx Name
        if cols.len() >= 8 && cols[4] == "GLOBAL" && cols[6] != "UND" {
            got.insert(cols[7].to_string());
        }
    }
    for name in &got {
        assert!(!name.contains('@'), "{name} carries a version node");
    }
    assert_eq!(got, want, "libpinguard.so must export exactly the hook table, dlsym, the exec family and the releases");
}
