//! Per-call limits: wall-clock deadline, memory cap and output size cap, with parsing of human-friendly values.

use std::time::Duration;

/// Limits applied to every call of a plugin. Each call gets a fresh instance, so the limits are per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for one call, instantiation included.
    pub deadline: Duration,
    /// Largest linear memory the plugin may grow to, in bytes.
    pub memory: u64,
    /// Largest answer (strings and lists it returns, summed), in bytes.
    pub output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { deadline: Duration::from_secs(30), memory: 128 << 20, output: 1 << 20 }
    }
}

/// The largest memory cap an operator may configure (the pooling allocator reserves address space for it).
pub const MAX_MEMORY: u64 = 4 << 30;

/// Parses a byte size: a plain number of bytes or a number with a Kubernetes-style suffix (`Ki`, `Mi`, `Gi`,
/// `K`, `M`, `G`); `MiB`-style spellings are accepted too.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}: expected a number such as 64Mi"))?;
    let mult: u64 = match suffix.trim().trim_end_matches('B') {
        "" => 1,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => {
            return Err(format!("invalid size {s:?}: unknown unit {other:?} (use Ki, Mi, Gi, K, M or G)"));
        }
    };
    n.checked_mul(mult).ok_or_else(|| format!("invalid size {s:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_kubernetes_suffixes() {
        let cases = [("1024", 1024), ("64Mi", 64 << 20), ("64MiB", 64 << 20), ("1Gi", 1 << 30), ("2K", 2000)];
        for (input, want) in cases {
            assert_eq!(parse_bytes(input), Ok(want), "{input}");
        }
        assert!(parse_bytes("lots").unwrap_err().contains("expected a number"));
        assert!(parse_bytes("5Xi").unwrap_err().contains("unknown unit"));
    }
}
