//! libpinguard.so binds its references to its own symbols to itself (`-Bsymbolic`), as
//! the CUDA libraries do. Its exports are interposable by design (they interpose CUDA's),
//! so without this a program that defines a function of a CUDA name itself would make
//! pinguard's own table point at the program's function. (`-Bsymbolic`, not
//! `-Bsymbolic-functions`: zig's linker, which makes the glibc 2.17 build, takes only the
//! former; the library exports functions alone, so the two bind the same.)
//!
//! It also tells the command's build script where this package's source is (`links`), so
//! that the command can carry the library it builds from it.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    println!("cargo:rerun-if-changed=build.rs");
    // For the command's build script (`DEP_PINGUARD_SOURCE`): where this package is.
    println!("cargo:source={}", std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
}
