//! The memory limit of the sink's container, read from its cgroup, so the buffer cap follows
//! the limit the pod was given instead of a fixed number that a small limit would OOM-kill.

use std::path::Path;

/// Limits at or above this are "unlimited" (cgroup v1 reports a page-rounded `i64::MAX`).
const UNLIMITED_FROM: u64 = 1 << 60;

/// The memory limit in bytes of the cgroup this process runs in, `None` if there is none or it
/// cannot be read (not Linux, no cgroup filesystem).
pub fn of_this_process() -> Option<u64> {
    // cgroup v2: one unified file; v1: the memory controller's own hierarchy. In a container
    // both show the container's own cgroup at these paths.
    let v2 = read(Path::new("/sys/fs/cgroup/memory.max"));
    v2.or_else(|| read(Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes")))
        .flatten()
}

fn read(path: &Path) -> Option<Option<u64>> {
    std::fs::read_to_string(path).ok().map(|t| parse(&t))
}

/// Parses `memory.max` (`max` or bytes) or `memory.limit_in_bytes` (bytes, huge when unset).
pub fn parse(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return None;
    }
    t.parse::<u64>()
        .ok()
        .filter(|&n| n > 0 && n < UNLIMITED_FROM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_their_absence() {
        assert_eq!(parse("1073741824\n"), Some(1 << 30));
        assert_eq!(parse("max\n"), None);
        assert_eq!(parse("9223372036854771712\n"), None);
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn the_cap_is_a_share_of_the_limit_with_a_floor() {
        use stockfeed_spec::sink::Memory;
        assert_eq!(Memory::auto_buffered_bytes(None), 256 << 20);
        let one_gib = Memory::auto_buffered_bytes(Some(1 << 30));
        assert!((400 << 20..420 << 20).contains(&one_gib), "{one_gib}");
        assert_eq!(Memory::auto_buffered_bytes(Some(64 << 20)), 32 << 20);
    }
}
