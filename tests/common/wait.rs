//! Waiting on a condition in tests: poll with backoff under a generous timeout, never a bare sleep. Shared by
//! test binaries through `#[path]`.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a condition may take on a loaded 2-core machine before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// Polls `f` with backoff until it yields `Some`, panicking with `what` after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
