//! A whole core connection: client bytes, `\0\0\0\0`, server bytes;
//! splits and faults derived from the input (see weir_core::sim::fuzz).
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;

static EPOCH: OnceLock<Instant> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    weir_core::sim::fuzz::proxy(data, *EPOCH.get_or_init(Instant::now));
});
