//! The canary's Services (upstream's `reconcileStableAndCanaryService` and `switchServiceSelector`): the
//! stable Service selects the stable ReplicaSet's pods and the canary Service the new one's, by pod-template
//! hash; an aborted canary's Service goes back to the stable pods.

use super::validation::MANAGED_BY_ANNOTATION;
use super::{Error, Pass, kube_err};
use crate::strategy::conditions::Event;
use crate::strategy::replicaset::{POD_TEMPLATE_HASH_LABEL, available, fully_available, pod_hash};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};

impl Pass<'_> {
    /// `reconcilePingAndPongService`: until the update is promoted, the ping-pong Service that is not the
    /// stable one selects the new pods.
    pub(super) async fn reconcile_ping_pong_service(&mut self) -> Result<(), Error> {
        if self.rollout.canary().is_none_or(|c| c.ping_pong.is_none())
            || crate::strategy::traffic::fully_promoted(&self.rollout)
        {
            return Ok(());
        }
        let (_, canary_service) = crate::strategy::traffic::stable_and_canary_services(&self.rollout);
        let new = self.rss.new_rs().cloned();
        self.ensure_service_targets(Some(&canary_service), new.as_ref()).await
    }

    pub(super) async fn reconcile_stable_and_canary_service(&mut self) -> Result<(), Error> {
        let Some(canary) = self.rollout.canary().cloned() else { return Ok(()) };
        let stable = self.rss.stable_rs().cloned();
        self.ensure_service_targets(canary.stable_service.as_deref(), stable.as_ref()).await?;
        if self.pause.is_aborted(&self.status()) && canary.traffic_routing.is_none() {
            return self.ensure_service_targets(canary.canary_service.as_deref(), stable.as_ref()).await;
        }
        let new = self.rss.new_rs().cloned();
        if crate::strategy::traffic::dynamically_rolling_back(&self.rollout, new.as_ref()).is_some() {
            // A dynamically scaled stable may be undersized still: the canary Service keeps the previous
            // canary's pods until the stable ReplicaSet is fully available.
            tracing::info!(rollout = %self.name(), "delaying the canary Service's switch back to the stable pods");
            return Ok(());
        }
        self.ensure_service_targets(canary.canary_service.as_deref(), new.as_ref()).await
    }

    /// `ensureSVCTargets`: points the Service at `rs` once it can serve: fully available when the Service is
    /// taken over for the first time, at least one available pod otherwise.
    pub(super) async fn ensure_service_targets(
        &mut self,
        service: Option<&str>,
        rs: Option<&ReplicaSet>,
    ) -> Result<(), Error> {
        let (Some(name), Some(rs)) = (service.filter(|s| !s.is_empty()), rs) else { return Ok(()) };
        let api: Api<Service> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let Some(svc) = self.service(name) else {
            return Err(Error::Other(format!("Service {name} not found")));
        };
        let current = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL))
            .cloned();
        let desired = pod_hash(rs).to_string();
        if current.as_deref() == Some(desired.as_str()) {
            return Ok(());
        }
        let managed =
            svc.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(MANAGED_BY_ANNOTATION));
        if !managed && !fully_available(rs) {
            tracing::info!(
                service = name,
                "delaying service switch from {current:?} to {desired}: ReplicaSet not fully available"
            );
            return Ok(());
        }
        if available(rs) == 0 {
            tracing::info!(
                service = name,
                "delaying service switch from {current:?} to {desired}: ReplicaSet has zero availability"
            );
            return Ok(());
        }
        let mut patch = serde_json::json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: desired}}});
        if !managed {
            patch["metadata"] = serde_json::json!({"annotations": {MANAGED_BY_ANNOTATION: self.name()}});
        }
        let updated = api
            .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .map_err(kube_err(format!("switching the selector of Service {name}")))?;
        self.wrote(&svc.metadata, &updated.metadata);
        self.event(Event::normal(
            "SwitchService",
            format!(
                "Switched selector for service '{name}' from '{}' to '{desired}'",
                current.unwrap_or_default()
            ),
        ));
        Ok(())
    }
}
