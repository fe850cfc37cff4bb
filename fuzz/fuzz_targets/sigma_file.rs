//! A Sigma rule file (one or more YAML documents) through the loader and the SQL compiler.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        kubetrail_fuzz::sigma_file(text);
    }
});
