#![no_main]
//! See `stockfeed_producer::fuzzing::alphavantage` for the input and the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stockfeed_producer::fuzzing::alphavantage(data));
