//! CPU time of a process, from /proc (Linux), for the benchmarks.
#![allow(dead_code)]

/// Clock ticks per second of `/proc/<pid>/stat` utime/stime (`getconf
/// CLK_TCK`; 100 on every Linux architecture this runs on).
pub const CLK_TCK: f64 = 100.0;

/// User + system CPU seconds of this process so far (every thread).
pub fn cpu_seconds() -> f64 {
    proc_cpu_seconds("self")
}

/// User + system CPU seconds of a process (`self` or a pid) so far; 0 when
/// its stat file cannot be read.
pub fn proc_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold
    // spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // `rest` starts at field 3, so field n is at index n - 3.
    (ticks(14 - 3) + ticks(15 - 3)) / CLK_TCK
}
