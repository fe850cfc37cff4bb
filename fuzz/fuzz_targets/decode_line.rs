//! One line (or document) of any envelope through the decoder, the normaliser and quarantine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kubetrail_fuzz::decode_lines(data);
});
