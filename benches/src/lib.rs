//! Criterion benchmarks for Airlock live in `benches/`; this library is empty.
