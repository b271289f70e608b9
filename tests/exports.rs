//! The export list is exact: every row of the hook table plus `dlsym`, nothing else,
//! and no version node on any of them (an unversioned export satisfies a program's
//! versioned reference such as `cudaMemcpyAsync@libcudart.so.13`; a named one would not).

mod support;

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn exports_are_exactly_the_hook_table() {
    let table = std::fs::read_to_string(support::repo_root().join("src/api_table.rs")).unwrap();
    let body = table.split("hook_table! {").nth(1).expect("the hook_table! invocation");
    let mut want: BTreeSet<String> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && l.contains(": \""))
        .map(|l| l.split(':').next().unwrap().trim().to_string())
        .collect();
    want.insert("dlsym".into());
    assert!(want.len() > 50, "parsed {} rows", want.len());

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
    assert_eq!(got, want, "libpinguard.so must export exactly the hook table and dlsym");
}
