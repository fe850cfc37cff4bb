//! `Redactor::body` for each resource the redactor distinguishes; no Secret value or JWT may
//! survive in the output.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let resources = kubetrail_fuzz::RESOURCES;
    let (resource, subresource) = resources[pick as usize % resources.len()];
    kubetrail_fuzz::redact_body(resource, subresource, text);
});
