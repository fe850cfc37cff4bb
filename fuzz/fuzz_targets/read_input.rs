//! A whole input file through the reader (compression, BOM, documents, lines, tails) and the
//! decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kubetrail_fuzz::read_input(data);
});
