//! See weir_core::sim::fuzz::response_stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weir_core::sim::fuzz::response_stream(data);
});
