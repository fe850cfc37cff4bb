//! gzip (several members) and zstd framing, recognised by magic bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kubetrail_fuzz::decompress(data);
});
