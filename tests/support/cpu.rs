//! CPU time of a process, from /proc (Linux), for the benchmarks.
#![allow(dead_code)]

/// CPU seconds of this process so far (every thread).
pub fn cpu_seconds() -> f64 {
    proc_cpu_seconds("self")
}

/// CPU seconds of a process (`self` or a pid) so far: the sum over its
/// threads of the first field of `/proc/<pid>/task/<tid>/schedstat`, the
/// time on a CPU in nanoseconds (exact, where `/proc/<pid>/stat` counts
/// ticks of 10 ms); 0 when it cannot be read. Threads that ended are not
/// counted: every thread that works during a run must live through it (the
/// benchmarks build their runtime before).
pub fn proc_cpu_seconds(pid: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let ns: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}
