//! The rule pack is embedded with `include_dir!`; tell cargo to rebuild when any rule file changes
//! or is added.
fn main() {
    println!("cargo:rerun-if-changed=pack");
    println!("cargo:rerun-if-changed=build.rs");
}
