//! Keeping long-lived supervisors small: once a monitor has started its container it spends
//! its life in a short poll loop, yet still has resident every page of code and read-only
//! data that start-up touched. Those pages are backed by the executable and its libraries,
//! so dropping them from this process costs nothing but a cheap refault from the page cache
//! should they be needed again.

use std::fs;

/// Unmap the resident pages of clean, read-only file-backed mappings (code and constants)
/// and give freed heap back to the kernel. A mapping with any dirty page is kept whole: the
/// dynamic loader writes relocations into read-only-after-relocation (RELRO) pages, whose
/// content exists nowhere else.
pub fn release_startup_pages() {
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for mapping in clean_readonly_file_mappings(&smaps) {
        let (start, end) = mapping;
        // SAFETY: the range is a whole mapping of this process from /proc/self/smaps that is
        // private, not writable, file-backed and has no dirty or anonymous pages, so
        // MADV_DONTNEED only drops page-table entries for pages the kernel faults in again,
        // unchanged, from the file. No Rust-visible memory changes.
        #[allow(unsafe_code)]
        unsafe {
            nix::libc::madvise(
                start as *mut nix::libc::c_void,
                end - start,
                nix::libc::MADV_DONTNEED,
            );
        }
    }
    // SAFETY: malloc_trim only returns free heap memory to the kernel; it takes no pointers.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Address ranges of mappings that are private, not writable, file-backed, and without a
/// single dirty or anonymous page, from the text of `/proc/self/smaps`.
fn clean_readonly_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut eligible = false;
    let mut clean = true;
    let mut finish = |range: Option<(usize, usize)>, eligible: bool, clean: bool| {
        if let Some(range) = range
            && eligible
            && clean
        {
            out.push(range);
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            finish(current, eligible, clean);
            let perms = fields.next().unwrap_or_default();
            let inode = fields.nth(2).unwrap_or("0");
            current = Some((start, end));
            eligible =
                perms.as_bytes().get(1) == Some(&b'-') && perms.ends_with('p') && inode != "0";
            clean = true;
            continue;
        }
        let value: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        if matches!(first, "Private_Dirty:" | "Shared_Dirty:" | "Anonymous:") && value > 0 {
            clean = false;
        }
    }
    finish(current, eligible, clean);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_kib() -> u64 {
        fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap()
    }

    #[test]
    fn only_clean_read_only_file_mappings_are_chosen() {
        let smaps = "\
1000-2000 r-xp 00000000 08:01 42 /bin/x
Private_Dirty:         0 kB
Anonymous:             0 kB
2000-3000 r--p 00001000 08:01 42 /bin/x
Private_Dirty:         4 kB
Anonymous:             0 kB
3000-4000 rw-p 00002000 08:01 42 /bin/x
Private_Dirty:         0 kB
4000-5000 r--p 00000000 00:00 0
Private_Dirty:         0 kB
5000-6000 r--p 00003000 08:01 42 /bin/x
Private_Dirty:         0 kB
Anonymous:             0 kB
";
        assert_eq!(
            clean_readonly_file_mappings(smaps),
            vec![(0x1000, 0x2000), (0x5000, 0x6000)]
        );
    }

    #[test]
    fn releasing_pages_keeps_the_process_working_and_does_not_grow_it() {
        let before = rss_kib();
        release_startup_pages();
        let after = rss_kib();
        assert!(after <= before, "{after} KiB after, {before} KiB before");
        // Code and constants fault back in: the process still computes.
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        assert!(format!("{:?}", std::path::Path::new("/x")).contains('x'));
    }
}
