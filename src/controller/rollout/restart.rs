//! `spec.restartAt` (upstream's `rollout/restart.go`): pods created before it are evicted, a few at a time
//! within the unavailability budget, until all are newer; then `status.restartedAt` records it.

use super::{Error, Pass, is_status, kube_err};
use crate::api::defaults;
use crate::strategy::fenceposts;
use crate::strategy::replicaset::spec_replicas;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams, ListParams};
use std::time::Duration;

/// How soon a restart that could not evict every old pod looks again.
const RESTART_CHECK: Duration = Duration::from_secs(30);

/// A pod ready for `min_ready_seconds` and not terminating (`IsPodAvailable`).
fn available(pod: &Pod, min_ready_seconds: i32, now: jiff::Timestamp) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(ready) = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "True"))
    else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    ready.last_transition_time.as_ref().is_some_and(|t| {
        t.0.checked_add(jiff::SignedDuration::from_secs(i64::from(min_ready_seconds)))
            .is_ok_and(|due| due <= now)
    })
}

impl Pass<'_> {
    /// Evicts pods older than `spec.restartAt`; how many it evicted.
    pub(super) async fn restart_pods(&mut self) -> Result<usize, Error> {
        let Some(restart_at) = self.rollout.spec.restart_at.clone() else { return Ok(0) };
        let status = self.status();
        if status.restarted_at.as_ref().is_some_and(|r| r.0 == restart_at.0) {
            return Ok(0);
        }
        if self.now <= restart_at.0 {
            let wait = Duration::try_from(self.now.duration_until(restart_at.0)).unwrap_or(Duration::ZERO);
            self.requeue_within(wait + Duration::from_millis(100));
            return Ok(0);
        }
        let selector =
            crate::strategy::replicaset::format_label_selector(self.rollout.spec.selector.as_ref());
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let lp = if selector == "<none>" {
            ListParams::default()
        } else {
            ListParams::default().labels(&selector)
        };
        let pods = api.list(&lp).await.map_err(kube_err("listing the Rollout's pods"))?.items;
        let rs_uids: Vec<String> = self.rss.all.iter().filter_map(|rs| rs.metadata.uid.clone()).collect();
        let pods: Vec<Pod> = pods
            .into_iter()
            .filter(|p| p.metadata.owner_references.iter().flatten().any(|o| rs_uids.contains(&o.uid)))
            .collect();
        let total: i32 = self.rss.all.iter().map(spec_replicas).sum();
        let replicas = defaults::replicas(&self.rollout);
        let min_ready = self.rollout.spec.min_ready_seconds.unwrap_or(0);
        let available_count = pods.iter().filter(|p| available(p, min_ready, self.now)).count() as i32;
        let concurrent = fenceposts::max_unavailable(&self.rollout).max(1);
        let mut can_restart = available_count - (replicas.max(total) - concurrent);
        let (mut needs, mut restarted) = (0, 0);
        for pod in &pods {
            let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
            if created.is_some_and(|c| c >= restart_at.0) {
                continue;
            }
            needs += 1;
            if can_restart <= 0 || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let name = pod.metadata.name.clone().unwrap_or_default();
            tracing::info!(rollout = %self.name(), pod = %name, "restarting Pod that's older than restartAt Time");
            match api.evict(&name, &EvictParams::default()).await {
                Ok(_) => {
                    can_restart -= 1;
                    restarted += 1;
                }
                // A PodDisruptionBudget said no: try again later.
                Err(e) if is_status(&e, 429) => tracing::warn!(pod = %name, "eviction refused: {e}"),
                Err(e) => return Err(Error::Kube { what: format!("evicting Pod {name}"), source: e }),
            }
        }
        if needs != restarted {
            self.requeue_within(RESTART_CHECK);
        } else {
            self.new_status.restarted_at = Some(restart_at);
        }
        Ok(restarted)
    }
}
