//! Freed memory, handed back.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena for the next allocation
//! instead of returning it to the operating system. A job made of many large, separate steps
//! (`detect` runs one rule after another, each building and dropping hash tables and batches
//! of its own) therefore holds at its end about the sum of what its steps needed at their peaks,
//! not the largest of them. [`release_freed`] between steps returns the free pages, so the peak
//! is the largest step's. Returned pages cost a page fault each when they are used again, so
//! [`release_freed_above`] returns them only once the process holds more than a bound.

/// Return the pages the allocator holds free to the operating system; whether this platform
/// can (glibc: `malloc_trim`; elsewhere nothing happens). Cheap: it walks free lists, not the
/// heap.
pub fn release_freed() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` takes no pointers and only rearranges the allocator's own free
    // lists; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    cfg!(all(target_os = "linux", target_env = "gnu"))
}

/// This process's resident memory in bytes, where the system says (Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    Some(kib * 1024)
}

/// [`release_freed`] when this process holds more than `bound` bytes of memory; whether it did.
pub fn release_freed_above(bound: u64) -> bool {
    resident_bytes().is_some_and(|held| held > bound) && release_freed()
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident_kib() -> u64 {
        super::resident_bytes().expect("VmRSS") / 1024
    }

    // One test in this binary: another test's trim, run in parallel, would hand back this one's
    // freed blocks between its steps.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn memory_freed_below_a_live_allocation_goes_back_to_the_system() {
        const MIB: u64 = 1024;
        let before = resident_kib();
        // 200 MB in blocks small enough to come from the thread's arena, not from mmap
        let blocks: Vec<Vec<u8>> = (0..100_000)
            .map(|i| vec![1 + (i % 200) as u8; 2000])
            .collect();
        // allocated after them: the arena's top stays in use, so free() alone cannot shrink it
        let pin = Box::new([9u8; 64]);
        let full = resident_kib();
        assert!(full > before + 150 * MIB, "{before} -> {full} KiB");
        drop(blocks);
        // under the bound: kept for the next allocations
        assert!(!super::release_freed_above((full + 100 * MIB) * 1024));
        assert!(resident_kib() > before + 150 * MIB);
        // over it: handed back
        assert!(super::release_freed_above(full / 2 * 1024));
        let after = resident_kib();
        assert!(
            after < before + 50 * MIB,
            "resident memory was {before} KiB, {full} KiB with the blocks, still {after} KiB after they were freed"
        );
        assert_eq!(pin[63], 9);
    }
}
