//! A quarantine record of a line: `Redactor::document` and token redaction, as quarantine keeps it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        kubetrail_fuzz::redact_quarantined(text);
    }
});
