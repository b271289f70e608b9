//! Shared by the integration tests: where the built library is, and building the test
//! apps against fakecuda once per test binary.
#![allow(dead_code, reason = "each test binary uses its own part of this module")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pinguard_harness::Setup;

/// target/<profile>, from this test binary's path (target/<profile>/deps/<test>).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// The libpinguard.so cargo built for this test run: `cargo test` builds it into
/// target/<profile>/deps (the rlib crate type makes it a dependency of the tests) and
/// does not copy it up, so the newer of the two is the one to test.
pub fn lib_path() -> PathBuf {
    let dir = profile_dir();
    let candidates = [dir.join("deps/libpinguard.so"), dir.join("libpinguard.so")];
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lib = candidates.iter().filter(|p| p.exists()).max_by_key(|p| modified(p)).cloned();
    lib.expect("libpinguard.so is missing: cargo builds it before the integration tests")
}

/// The repository root: the test's package folder or the first folder above it that
/// holds `testing/apps/` (the CLI's tests share this module).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|d| d.join("testing/apps/manifest.txt").exists()).unwrap_or(&here).to_path_buf()
}

/// Builds fakecuda and every test app (four builds each) once; returns the setup.
pub fn fake_setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let out = profile_dir().join("test-apps");
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/dev/build-test-apps.sh"))
            .arg(&out)
            .status()
            .expect("run scripts/dev/build-test-apps.sh");
        assert!(status.success(), "building the test apps failed");
        Setup {
            lib: lib_path(),
            apps: out.clone(),
            library_path: Some(out.join("fakecuda")),
            extra_options: None,
            extra_env: Vec::new(),
            reports: out.join("reports"),
        }
    })
}

/// Compiles a C/C++ source with the system compiler; returns the output path.
pub fn compile(compiler: &str, args: &[&str], out: &Path) -> PathBuf {
    let status = Command::new(compiler).args(args).arg("-o").arg(out).status().expect("run the compiler");
    assert!(status.success(), "{compiler} {args:?} failed");
    out.to_path_buf()
}

/// The CUDA 13 include folder the build script found (fakecuda's is built against it).
pub fn cuda_include() -> String {
    if let Ok(dir) = std::env::var("CUDA_INCLUDE") {
        return dir;
    }
    let unpacked = repo_root().join("build/cuda/nvidia/cu13/include");
    if unpacked.join("cuda_runtime_api.h").exists() {
        return unpacked.to_string_lossy().into_owned();
    }
    let out = Command::new("python3")
        .args(["-c", "import importlib.util,os;s=importlib.util.find_spec('nvidia.cu13');print(os.path.join(list(s.submodule_search_locations)[0],'include'))"])
        .output()
        .expect("python3");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
