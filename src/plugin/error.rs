//! Why a plugin call or load failed, as values: each names the plugin and the cause and has a stable label.

use std::time::Duration;

/// A call that did not produce a usable answer. The controller records these on the resource's status (an Error
/// measurement, a router error); they never stop the controller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("plugin {plugin} exceeded its deadline of {}", humanize(*deadline))]
    Timeout { plugin: String, deadline: Duration },
    /// Every instance slot stayed taken for the whole deadline: the plugin never ran.
    #[error(
        "plugin {plugin} was not run: no instance slot came free within its deadline of {} (too many calls at once)",
        humanize(*deadline)
    )]
    Busy { plugin: String, deadline: Duration },
    #[error("plugin {plugin} exceeded its memory limit of {limit} bytes")]
    MemoryExceeded { plugin: String, limit: u64 },
    #[error("plugin {plugin} overflowed its stack")]
    StackOverflow { plugin: String },
    #[error("plugin {plugin} trapped: {message}")]
    Trap { plugin: String, message: String },
    /// The plugin's own code gave up (a Rust or Go panic): `message` is what it said, and where.
    #[error("plugin {plugin} panicked: {message}")]
    Panic { plugin: String, message: String },
    #[error("plugin {plugin} returned {size} bytes, more than its output limit of {limit} bytes")]
    OutputTooLarge { plugin: String, size: usize, limit: usize },
    #[error("plugin {plugin} returned malformed output: {message}")]
    BadOutput { plugin: String, message: String },
    #[error("plugin {plugin} made a denied call: {what}")]
    Denied { plugin: String, what: String },
    #[error("plugin {plugin} is a {actual}, not a {expected}")]
    WrongKind { plugin: String, expected: &'static str, actual: &'static str },
    #[error("plugin {plugin} could not be instantiated: {message}")]
    Instantiate { plugin: String, message: String },
}

impl CallError {
    /// A stable, low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            CallError::Timeout { .. } => "timeout",
            CallError::Busy { .. } => "busy",
            CallError::MemoryExceeded { .. } => "memory",
            CallError::StackOverflow { .. } => "stack",
            CallError::Trap { .. } => "trap",
            CallError::Panic { .. } => "panic",
            CallError::OutputTooLarge { .. } => "output",
            CallError::BadOutput { .. } => "bad-output",
            CallError::Denied { .. } => "denied",
            CallError::WrongKind { .. } => "wrong-kind",
            CallError::Instantiate { .. } => "instantiate",
        }
    }
}

/// A plugin that could not be loaded or verified.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {plugin}: sha256 must be exactly 64 hexadecimal digits, got {got:?}")]
    BadDigest { plugin: String, got: String },
    #[error("plugin {plugin}: sha256 mismatch: expected {expected}, got {actual}")]
    DigestMismatch { plugin: String, expected: String, actual: String },
    #[error("plugin {plugin} is not a valid WebAssembly component: {message}")]
    Invalid { plugin: String, message: String },
    #[error(
        "plugin {plugin} is not a serin plugin: it exports none of serin:plugin/metric-provider, condition-evaluator, traffic-router or step"
    )]
    NotAPlugin { plugin: String },
    #[error("plugin {plugin} is built for serin:plugin@{found}; this host supports {supported}")]
    UnknownVersion { plugin: String, found: String, supported: String },
    #[error(
        "plugin {plugin} exports more than one plugin interface ({interfaces}); a plugin has exactly one kind"
    )]
    SeveralKinds { plugin: String, interfaces: String },
    #[error(
        "plugin {plugin} imports {import}, which a {kind}'s world ({world}) does not offer; it offers {offers}"
    )]
    ImportNotInWorld { plugin: String, import: String, kind: &'static str, world: String, offers: String },
    #[error("plugin {plugin} needs imports this host does not provide: {message}")]
    UnsatisfiedImports { plugin: String, message: String },
    #[error("plugin {plugin}: {message}")]
    Source { plugin: String, message: String },
    #[error("plugin {plugin} is not registered")]
    NotFound { plugin: String },
}

impl LoadError {
    /// A stable, low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            LoadError::BadDigest { .. } => "bad-digest",
            LoadError::DigestMismatch { .. } => "digest-mismatch",
            LoadError::Invalid { .. } => "invalid",
            LoadError::NotAPlugin { .. } => "not-a-plugin",
            LoadError::UnknownVersion { .. } => "unknown-version",
            LoadError::SeveralKinds { .. } => "several-kinds",
            LoadError::ImportNotInWorld { .. } => "import-not-in-world",
            LoadError::UnsatisfiedImports { .. } => "unsatisfied-imports",
            LoadError::Source { .. } => "source",
            LoadError::NotFound { .. } => "not-found",
        }
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}
