//! What this test process uses: resident memory and open file descriptors,
//! read from /proc (Linux).
#![allow(dead_code)]

/// Resident set size of this process, in KiB (`VmRSS` of /proc/self/status).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> usize {
    usize::try_from(rss_kib()).expect("RSS fits usize") * 1024
}

/// Open file descriptors of this process.
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count() as u64
}
