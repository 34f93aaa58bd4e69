//! Leader election through a `coordination.k8s.io/v1` Lease, so that several controller replicas can run and
//! only one reconciles. The Lease itself is handled by the `kube-lease-manager` crate (server-side apply, so two
//! candidates can never both take it); this module adds what a controller needs around it: the timings
//! upstream's client-go elector uses, a leader that stops (instead of carrying on unsure) when it cannot renew
//! within its renew deadline, and a release on shutdown so that a standby takes over at once.

use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The Lease's name (upstream names its own `argo-rollouts-controller-lock`; serin's is its own, so that the two
/// can run side by side during a migration, each with its own instance id).
pub const DEFAULT_LEASE_NAME: &str = "serin-controller-lock";

/// How a replica takes part in leader election. The defaults are upstream's: a 15 s lease, renewed every 2 s,
/// given up after 10 s without a successful renewal.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    /// The Lease's namespace (upstream's: the controller's own, from `POD_NAMESPACE`).
    pub namespace: String,
    pub lease_name: String,
    /// This replica's name in `spec.holderIdentity` (unique among the replicas).
    pub identity: String,
    /// How long a standby waits after the leader's last renewal before taking the Lease.
    pub lease_duration: Duration,
    /// How long the leader keeps leading while its renewals fail; it stops after that, well before its Lease
    /// can be taken.
    pub renew_deadline: Duration,
    /// How often the leader renews.
    pub retry_period: Duration,
}

impl LeaderElection {
    /// Upstream's timings, in `namespace`, with this process's identity (`POD_NAME` or the host name, plus a
    /// random suffix as client-go adds one).
    pub fn new(namespace: impl Into<String>) -> LeaderElection {
        LeaderElection {
            namespace: namespace.into(),
            lease_name: DEFAULT_LEASE_NAME.into(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The Lease of the controllers with `instance_id`: instances work on separate objects, so each has its
    /// own leader.
    pub fn lease_name_for(instance_id: &str) -> String {
        if instance_id.is_empty() {
            DEFAULT_LEASE_NAME.to_string()
        } else {
            // Label values may hold what object names may not (capitals, `_`).
            let id: String = instance_id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("{DEFAULT_LEASE_NAME}-{id}")
        }
    }

    /// Checks the timings as client-go does: the lease outlasts the renew deadline, which outlasts the retry
    /// period. The Lease counts whole seconds.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration.as_secs() < 2 {
            return Err("--leader-election-lease-duration must be at least 2s".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(
                "--leader-election-renew-deadline must be shorter than --leader-election-lease-duration"
                    .into(),
            );
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return Err(
                "--leader-election-retry-period must be above zero and shorter than the renew deadline"
                    .into(),
            );
        }
        if self.lease_name.is_empty() || self.namespace.is_empty() || self.identity.is_empty() {
            return Err("the leader election Lease needs a name, a namespace and an identity".into());
        }
        Ok(())
    }

    /// When the leader renews: `retry_period` after its last renewal, so the crate's "grace" (how long before
    /// expiry it renews) is the rest of the lease.
    fn grace_seconds(&self) -> u64 {
        self.lease_duration.as_secs().saturating_sub(self.retry_period.as_secs().max(1)).max(1)
    }

    /// How long renewals may fail, counted from the first failure, before the leader stops. The first failure
    /// comes `retry_period` after the last success, and the renew deadline counts from that success.
    fn failing_allowance(&self) -> Duration {
        self.renew_deadline.saturating_sub(self.retry_period)
    }
}

fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "serin".into());
    // The time, the process and a per-process count: replicas on one host (or one pod name reused after a
    // restart) and several elections in one process all differ.
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
            as u32;
    let suffix = nanos ^ std::process::id().rotate_left(16) ^ count.wrapping_mul(0x9e37_79b9);
    format!("{host}_{suffix:08x}")
}

/// Where a replica stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// Waiting for the Lease.
    Standby,
    /// Holding the Lease: reconcilers run.
    Leading,
    /// Was leading and lost the Lease (or could not renew it in time): reconcilers are stopped and this
    /// replica does not lead again (upstream's process exits; `serin controller` does too).
    Lost,
}

/// Campaigns for the Lease until `stop` turns true, publishing where this replica stands on `state`. Returns
/// when stopped (after releasing a held Lease) or once leadership is lost.
pub(crate) async fn campaign(
    client: kube::Client,
    election: LeaderElection,
    state: watch::Sender<Leadership>,
    mut stop: watch::Receiver<bool>,
) {
    let manager = loop {
        let built = LeaseManagerBuilder::new(client.clone(), &election.lease_name)
            .with_namespace(&election.namespace)
            .with_identity(&election.identity)
            .with_field_manager("serin-leader-election")
            .with_duration(election.lease_duration.as_secs())
            .with_grace(election.grace_seconds())
            .build()
            .await;
        match built {
            Ok(m) => break m,
            Err(e) => {
                tracing::error!(
                    lease = %election.lease_name, namespace = %election.namespace,
                    "leader election: cannot use the Lease (it lives in --plugin-namespace, which must exist; \
                     --leader-elect=false runs without one): {e}"
                );
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(election.retry_period) => {}
                }
            }
        }
    };
    tracing::info!(identity = %election.identity, lease = %election.lease_name, "leader election: standing by");
    let mut leading = false;
    let mut failing_since: Option<Instant> = None;
    loop {
        let changed = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            changed = manager.changed() => changed,
        };
        match changed {
            Ok(true) => {
                failing_since = None;
                leading = true;
                tracing::info!(identity = %election.identity, "leader election: leading");
                let _ = state.send(Leadership::Leading);
            }
            Ok(false) if leading => {
                tracing::error!(identity = %election.identity, "leader election: the Lease was taken; stopping");
                let _ = state.send(Leadership::Lost);
                return;
            }
            Ok(false) => failing_since = None,
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if leading && since.elapsed() >= election.failing_allowance() {
                    tracing::error!(
                        identity = %election.identity,
                        "leader election: the Lease could not be renewed within the renew deadline ({e}); stopping"
                    );
                    let _ = state.send(Leadership::Lost);
                    release(&manager, &election).await;
                    return;
                }
                tracing::warn!(identity = %election.identity, "leader election: {e}");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(election.retry_period / 2) => {}
                }
            }
        }
    }
    if leading {
        release(&manager, &election).await;
    }
}

async fn release(manager: &LeaseManager, election: &LeaderElection) {
    match tokio::time::timeout(election.retry_period.max(Duration::from_secs(1)), manager.release()).await {
        Ok(Ok(())) => tracing::info!(identity = %election.identity, "leader election: Lease released"),
        Ok(Err(e)) => {
            tracing::warn!(identity = %election.identity, "leader election: releasing the Lease: {e}")
        }
        Err(_) => {
            tracing::warn!(identity = %election.identity, "leader election: releasing the Lease timed out")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_are_upstreams_and_map_onto_the_lease() {
        let e = LeaderElection::new("serin");
        assert_eq!(e.lease_name, "serin-controller-lock");
        assert_eq!(LeaderElection::lease_name_for(""), "serin-controller-lock");
        assert_eq!(LeaderElection::lease_name_for("blue"), "serin-controller-lock-blue");
        assert_eq!(LeaderElection::lease_name_for("Team_A"), "serin-controller-lock-team-a");
        assert_eq!(
            (e.lease_duration, e.renew_deadline, e.retry_period),
            (Duration::from_secs(15), Duration::from_secs(10), Duration::from_secs(2))
        );
        assert!(e.validate().is_ok());
        // Renewed every retry period: 13 s before a 15 s lease expires.
        assert_eq!(e.grace_seconds(), 13);
        // Renewals fail from 2 s after the last success; stopping 8 s later is the 10 s renew deadline.
        assert_eq!(e.failing_allowance(), Duration::from_secs(8));
    }

    #[test]
    fn bad_timings_are_refused_naming_the_flag() {
        let cases: &[(u64, u64, u64, &str)] = &[
            (1, 0, 0, "--leader-election-lease-duration must be at least 2s"),
            (15, 15, 2, "--leader-election-renew-deadline must be shorter"),
            (15, 10, 10, "--leader-election-retry-period must be above zero"),
            (15, 10, 0, "--leader-election-retry-period must be above zero"),
        ];
        for &(lease, renew, retry, want) in cases {
            let e = LeaderElection {
                lease_duration: Duration::from_secs(lease),
                renew_deadline: Duration::from_secs(renew),
                retry_period: Duration::from_secs(retry),
                ..LeaderElection::new("serin")
            };
            let got = e.validate().unwrap_err();
            assert!(got.starts_with(want), "{lease}/{renew}/{retry}: {got}");
        }
    }

    #[test]
    fn identities_differ_between_replicas_on_one_host() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
    }
}
