//! `airlock-shim`: see the crate documentation.

fn main() {
    std::process::exit(airlock_shim::run());
}
