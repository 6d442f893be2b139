//! Peak resident memory of this process, as the kernel counts it (Linux `VmHWM`).

/// Peak resident set size in bytes since start or since the last [`reset_peak`] (`None` where the
/// platform does not report it).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak to the current resident size, so a later reading measures one phase alone.
pub fn reset_peak() {
    // Writing 5 to clear_refs resets VmHWM (Linux ≥ 4.0); where it is refused the peak simply
    // keeps counting from process start.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
