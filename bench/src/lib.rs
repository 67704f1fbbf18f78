//! Benchmarks of flowgate beside governor and limitador: see `benches/limiters.rs`.
