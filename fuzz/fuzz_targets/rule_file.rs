//! A pack rule file (YAML) through `Rule::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        kubetrail_fuzz::rule_file(text);
    }
});
