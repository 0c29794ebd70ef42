//! timing
fn main() {
    let t = airlock_benches::generated_module(3000);
    let start = std::time::Instant::now();
    let m = airlock_policy::compile("g", &t).unwrap();
    println!("compile: {:?} {}", start.elapsed(), m.rules().len());
}
