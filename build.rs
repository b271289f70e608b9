//! libpinguard.so binds its references to its own functions to itself
//! (`-Bsymbolic-functions`), as the CUDA libraries do. Its exports are interposable by
//! design (they interpose CUDA's), so without this a program that defines a function of
//! a CUDA name itself would make pinguard's own table point at the program's function.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic-functions");
    println!("cargo:rerun-if-changed=build.rs");
}
