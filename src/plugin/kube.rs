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

/// Whether `s` is a DNS-1123 label (lower-case alphanumerics and `-`, at most 63 characters).
fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label)
}

/// Every part of a request must be a plain name: they are pasted into the URL path by the client, so a `/`,
/// `?` or `..` would otherwise reach other namespaces, other resources or subresources.
fn check_names(res: &WitResource, name: Option<&str>) -> Result<(), String> {
    if !(res.group.is_empty() || dns_subdomain(&res.group)) {
        return Err(format!("invalid API group {:?}", res.group));
    }
    if res.version.is_empty() || !res.version.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(format!("invalid API version {:?}", res.version));
    }
    if !dns_label(&res.plural) {
        return Err(format!("invalid resource {:?}", res.plural));
    }
    if let Some(name) = name
        && !dns_subdomain(name)
    {
        return Err(format!("invalid object name {name:?}"));
    }
    Ok(())
}

impl CallState {
    fn api(&self, res: &WitResource, name: Option<&str>, verb: Verb) -> Result<Api<DynamicObject>, K8sError> {
        if let Err(what) = check_names(res, name) {
            self.host.audit.deny(what.clone());
            return Err(K8sError::Denied(what));
        }
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

impl CallState {
    /// An object sent for create or replace may name no other namespace than the one being served.
    fn same_namespace(&self, obj: &DynamicObject) -> Result<(), K8sError> {
        let served = self.host.kube.as_ref().map(|k| k.namespace.as_str()).unwrap_or_default();
        match obj.metadata.namespace.as_deref() {
            Some(ns) if ns != served => {
                let what = format!("objects in namespace {ns:?} are out of reach (serving {served:?})");
                self.host.audit.deny(what.clone());
                Err(K8sError::Denied(what))
            }
            _ => Ok(()),
        }
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
        let api = self.api(&api, Some(&name), Verb::Get)?;
        match api.get_opt(&name).await.map_err(failure)? {
            Some(obj) => Ok(Some(render(&obj)?)),
            None => Ok(None),
        }
    }

    async fn list(&mut self, api: WitResource, label_selector: String) -> Result<String, K8sError> {
        let api = self.api(&api, None, Verb::List)?;
        let mut params = ListParams::default();
        if !label_selector.is_empty() {
            params = params.labels(&label_selector);
        }
        render(&api.list(&params).await.map_err(failure)?)
    }

    async fn create(&mut self, api: WitResource, object: String) -> Result<String, K8sError> {
        let api = self.api(&api, None, Verb::Create)?;
        let obj = parse(&object)?;
        self.same_namespace(&obj)?;
        render(&api.create(&PostParams::default(), &obj).await.map_err(failure)?)
    }

    async fn replace(&mut self, api: WitResource, name: String, object: String) -> Result<String, K8sError> {
        let api = self.api(&api, Some(&name), Verb::Update)?;
        let obj = parse(&object)?;
        self.same_namespace(&obj)?;
        render(&api.replace(&name, &PostParams::default(), &obj).await.map_err(failure)?)
    }

    async fn merge_patch(
        &mut self,
        api: WitResource,
        name: String,
        patch: String,
    ) -> Result<String, K8sError> {
        let api = self.api(&api, Some(&name), Verb::Patch)?;
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
        let api = self.api(&api, Some(&name), Verb::Delete)?;
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(failure(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, version: &str, plural: &str) -> WitResource {
        WitResource { group: group.into(), version: version.into(), plural: plural.into() }
    }

    #[test]
    fn request_parts_must_be_plain_names() {
        assert!(check_names(&res("", "v1", "configmaps"), Some("app-config.v2")).is_ok());
        assert!(check_names(&res("batch", "v1", "jobs"), None).is_ok());
        let hostile = [
            (res("", "v1/namespaces/kube-system/secrets/x?", "configmaps"), None),
            (res("", "v1/secrets?", "configmaps"), None),
            (res("apps/v1/namespaces/kube-system", "v1", "deployments"), None),
            (res("", "v1", "pods/x"), None),
            (res("", "v1", "pods"), Some("x/proxy/metadata")),
            (res("", "v1", "pods"), Some("..")),
            (res("", "v1", "pods"), Some("a?b")),
            (res("", "", "pods"), None),
        ];
        for (r, name) in hostile {
            assert!(check_names(&r, name).is_err(), "{:?} {:?} accepted", r.version, name);
        }
    }
}
