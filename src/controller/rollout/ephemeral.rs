//! `canaryMetadata` and `stableMetadata`, or blue-green's `previewMetadata` and `activeMetadata` (upstream's
//! `rollout/ephemeralmetadata.go`): the labels and annotations of a role follow the ReplicaSet playing it, on its
//! pod template and on its live pods.

use super::{Error, Pass, is_status, kube_err};
use crate::api::common::PodTemplateMetadata;
use crate::strategy::ephemeral;
use crate::strategy::replicaset::spec_replicas;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};

impl Pass<'_> {
    /// The metadata of the new (canary or preview) and the stable (or active) role.
    pub(super) fn ephemeral_roles(&self) -> (Option<PodTemplateMetadata>, Option<PodTemplateMetadata>) {
        if let Some(c) = self.rollout.canary() {
            return (c.canary_metadata.clone(), c.stable_metadata.clone());
        }
        if let Some(b) = self.rollout.blue_green() {
            return (b.preview_metadata.clone(), b.active_metadata.clone());
        }
        (None, None)
    }

    pub(super) async fn reconcile_ephemeral_metadata(&mut self) -> Result<(), Error> {
        let (canary_md, stable_md) = self.ephemeral_roles();
        if canary_md.is_none() && stable_md.is_none() {
            return Ok(());
        }
        let stable_hash = self.status().stable_rs.unwrap_or_default();
        let new_hash = self.rss.new_rs().map(crate::strategy::replicaset::pod_hash).unwrap_or("").to_string();
        let fully_rolled_out = stable_hash.is_empty() || stable_hash == new_hash;
        let mut plan: Vec<(usize, Option<PodTemplateMetadata>)> = Vec::new();
        if let Some(n) = self.rss.new {
            plan.push((n, if fully_rolled_out { stable_md.clone() } else { canary_md }));
        }
        if !fully_rolled_out && let Some(s) = self.rss.stable {
            plan.push((s, stable_md));
        }
        for i in 0..self.rss.all.len() {
            if Some(i) != self.rss.new && Some(i) != self.rss.stable {
                plan.push((i, None));
            }
        }
        for (i, metadata) in plan {
            self.sync_ephemeral_metadata(i, metadata.as_ref()).await?;
        }
        Ok(())
    }

    /// The ReplicaSet first (so pods it creates from now on carry the metadata), then its pods.
    async fn sync_ephemeral_metadata(
        &mut self,
        i: usize,
        desired: Option<&PodTemplateMetadata>,
    ) -> Result<(), Error> {
        let before = ephemeral::injected(&self.rss.all[i]);
        if let Some(updated) = ephemeral::sync_replica_set(&self.rss.all[i], desired) {
            self.update_replica_set(i, updated).await?;
        }
        let rs = &self.rss.all[i];
        if spec_replicas(rs) == 0 {
            return Ok(());
        }
        let selector = crate::strategy::replicaset::format_label_selector(Some(&rs.spec.selector));
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let pods =
            api.list(&ListParams::default().labels(&selector)).await.map_err(kube_err("listing pods"))?.items;
        for pod in pods {
            if !pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && o.uid == uid)
            {
                continue;
            }
            let mut meta = pod.metadata.clone();
            if !ephemeral::sync(&mut meta, before.as_ref(), desired) {
                continue;
            }
            // An Update guarded by the resourceVersion just listed, as upstream writes it (its RBAC grants
            // `update` on pods, not `patch`).
            let name = pod.metadata.name.clone().unwrap_or_default();
            let mut updated = pod;
            updated.metadata.labels = meta.labels;
            updated.metadata.annotations = meta.annotations;
            match api.replace(&name, &PostParams::default(), &updated).await {
                Ok(_) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => {
                    return Err(Error::Kube {
                        what: format!("syncing ephemeral metadata to Pod {name}"),
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }
}
