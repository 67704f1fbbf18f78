//! flowgate-wasm.
