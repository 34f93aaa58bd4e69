//! The `kubernetes` host import: allow-listed verbs on allow-listed resources, confined to the namespace of the
//! object being served, through an ordinary `kube::Client`.

use super::bindings::kubernetes::{self as k8s, ApiFailure, ApiResource as WitResource, K8sError};
use super::grants::Verb;
use super::state::CallState;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;

/// A cluster connection scoped to one namespace.
#[derive(Clone)]
pub struct KubeAccess {
    pub client: kube::Client,
    pub namespace: String,
}

impl CallState {
    fn api(&self, res: &WitResource, verb: Verb) -> Result<Api<DynamicObject>, K8sError> {
        if let Err(what) = self.host.grants.kubernetes_allowed(&res.group, &res.plural, verb) {
            self.host.audit.deny(what.clone());
            return Err(K8sError::Denied(what));
        }
        let Some(access) = &self.host.kube else {
            return Err(K8sError::Unavailable("no Kubernetes cluster is connected".into()));
        };
        let api_version =
            if res.group.is_empty() { res.version.clone() } else { format!("{}/{}", res.group, res.version) };
        let resource = ApiResource {
            group: res.group.clone(),
            version: res.version.clone(),
            api_version,
            kind: String::new(),
            plural: res.plural.clone(),
        };
        Ok(Api::namespaced_with(access.client.clone(), &access.namespace, &resource))
    }
}

fn failure(e: kube::Error) -> K8sError {
    match e {
        kube::Error::Api(status) => K8sError::Api(ApiFailure {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        }),
        other => K8sError::Unavailable(other.to_string()),
    }
}

fn parse(object: &str) -> Result<DynamicObject, K8sError> {
    serde_json::from_str(object).map_err(|e| {
        K8sError::Api(ApiFailure {
            code: 400,
            reason: "BadRequest".into(),
            message: format!("invalid object JSON: {e}"),
        })
    })
}

fn render<T: serde::Serialize>(v: &T) -> Result<String, K8sError> {
    serde_json::to_string(v).map_err(|e| K8sError::Unavailable(e.to_string()))
}

impl k8s::Host for CallState {
    async fn get(&mut self, api: WitResource, name: String) -> Result<Option<String>, K8sError> {
        let api = self.api(&api, Verb::Get)?;
        match api.get_opt(&name).await.map_err(failure)? {
            Some(obj) => Ok(Some(render(&obj)?)),
            None => Ok(None),
        }
    }

    async fn list(&mut self, api: WitResource, label_selector: String) -> Result<String, K8sError> {
        let api = self.api(&api, Verb::List)?;
        let mut params = ListParams::default();
        if !label_selector.is_empty() {
            params = params.labels(&label_selector);
        }
        render(&api.list(&params).await.map_err(failure)?)
    }

    async fn create(&mut self, api: WitResource, object: String) -> Result<String, K8sError> {
        let api = self.api(&api, Verb::Create)?;
        let obj = parse(&object)?;
        render(&api.create(&PostParams::default(), &obj).await.map_err(failure)?)
    }

    async fn replace(&mut self, api: WitResource, name: String, object: String) -> Result<String, K8sError> {
        let api = self.api(&api, Verb::Update)?;
        let obj = parse(&object)?;
        render(&api.replace(&name, &PostParams::default(), &obj).await.map_err(failure)?)
    }

    async fn merge_patch(
        &mut self,
        api: WitResource,
        name: String,
        patch: String,
    ) -> Result<String, K8sError> {
        let api = self.api(&api, Verb::Patch)?;
        let patch: serde_json::Value = serde_json::from_str(&patch).map_err(|e| {
            K8sError::Api(ApiFailure {
                code: 400,
                reason: "BadRequest".into(),
                message: format!("invalid patch JSON: {e}"),
            })
        })?;
        render(&api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(failure)?)
    }

    async fn delete(&mut self, api: WitResource, name: String) -> Result<(), K8sError> {
        let api = self.api(&api, Verb::Delete)?;
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(failure(e)),
        }
    }
}
