//! The `kubernetes` host import: allow-listed verbs on allow-listed resources in granted namespaces (by default
//! only the namespace of the object being served), through an ordinary `kube::Client`. Each contract version's
//! bindings delegate here.

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

/// Whether `s` can name a namespace.
pub fn is_namespace_name(s: &str) -> bool {
    dns_label(s)
}

/// Whether `s` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label)
}

/// Every part of a request must be a plain name: they are pasted into the URL path by the client, so a `/`,
/// `?` or `..` would otherwise reach other namespaces, other resources or subresources.
fn check_names(res: &KubeResource, name: Option<&str>) -> Result<(), String> {
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

/// A resource type as a plugin names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeResource {
    pub group: String,
    pub version: String,
    pub plural: String,
}

/// A write a plugin asks for, with its JSON body.
#[derive(Debug, Clone)]
pub enum KubeRequest {
    Create(String),
    Replace(String),
    MergePatch(String),
    JsonPatch(String),
    Apply { object: String, force: bool },
}

/// Why a kubernetes call failed, in host terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeError {
    Denied(String),
    Api { code: u16, reason: String, message: String },
    Unavailable(String),
    TooLarge(String),
}

/// Objects per list page when a plugin asks for none or too many.
pub const MAX_LIST_PAGE: u32 = 500;

fn bad_request(message: String) -> KubeError {
    KubeError::Api { code: 400, reason: "BadRequest".into(), message }
}

impl CallState {
    fn deny(&self, what: String) -> KubeError {
        self.host.audit.deny(what.clone());
        KubeError::Denied(what)
    }

    /// The namespace of the object being served, for calls (0.1.0's) that name none. An object without a
    /// namespace gives them none: nothing is ever cluster-wide by accident.
    pub(crate) fn served_namespace(&self) -> Result<String, KubeError> {
        match &self.host.kube {
            // `api` says so, after the grants: what is not granted is denied with or without a cluster.
            None => Ok(String::new()),
            Some(access) if access.namespace.is_empty() => Err(self.deny(
                "the object being served has no namespace, so kubernetes calls that name none reach nothing"
                    .into(),
            )),
            Some(access) => Ok(access.namespace.clone()),
        }
    }

    fn api(
        &self,
        res: &KubeResource,
        namespace: &str,
        name: Option<&str>,
        verb: Verb,
    ) -> Result<Api<DynamicObject>, KubeError> {
        check_names(res, name).map_err(|what| self.deny(what))?;
        self.host
            .grants
            .kubernetes_matching(&res.group, &res.plural, verb)
            .map_err(|what| self.deny(what))?;
        let Some(access) = &self.host.kube else {
            return Err(KubeError::Unavailable("no Kubernetes cluster is connected".into()));
        };
        if namespace.is_empty() {
            return Err(
                self.deny("an empty namespace is refused: every kubernetes call names its namespace".into())
            );
        }
        if !dns_label(namespace) {
            return Err(self.deny(format!("invalid namespace {namespace:?}")));
        }
        self.host
            .grants
            .kubernetes_allowed(&res.group, &res.plural, verb, namespace, &access.namespace)
            .map_err(|what| self.deny(what))?;
        let api_version =
            if res.group.is_empty() { res.version.clone() } else { format!("{}/{}", res.group, res.version) };
        let resource = ApiResource {
            group: res.group.clone(),
            version: res.version.clone(),
            api_version,
            kind: String::new(),
            plural: res.plural.clone(),
        };
        Ok(Api::namespaced_with(access.client.clone(), namespace, &resource))
    }

    /// An object sent for a write may name no other namespace than the one the call names.
    fn same_namespace(&self, obj: &DynamicObject, namespace: &str) -> Result<(), KubeError> {
        match obj.metadata.namespace.as_deref() {
            Some(ns) if ns != namespace => {
                Err(self
                    .deny(format!("the object names namespace {ns:?}, but the call is for {namespace:?}")))
            }
            _ => Ok(()),
        }
    }

    /// Fails when an answer is larger than the call's output cap.
    fn bounded(&self, text: String) -> Result<String, KubeError> {
        let cap = self.host.output_cap;
        if text.len() > cap {
            return Err(KubeError::TooLarge(format!(
                "the answer is {} bytes, more than the plugin's output limit of {cap} bytes",
                text.len()
            )));
        }
        Ok(text)
    }

    pub(crate) async fn kube_get(
        &mut self,
        res: KubeResource,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, KubeError> {
        let api = self.api(&res, namespace, Some(name), Verb::Get)?;
        match api.get_opt(name).await.map_err(failure)? {
            Some(obj) => Ok(Some(self.bounded(render(&obj)?)?)),
            None => Ok(None),
        }
    }

    /// One page of at most `limit` objects (capped at [`MAX_LIST_PAGE`]); the page is read from the API server
    /// only up to the output cap, so a plugin cannot make the host hold more than that.
    pub(crate) async fn kube_list_page(
        &mut self,
        res: KubeResource,
        namespace: &str,
        label_selector: &str,
        limit: u32,
        continue_token: Option<String>,
    ) -> Result<(String, Option<String>), KubeError> {
        let api = self.api(&res, namespace, None, Verb::List)?;
        let Some(access) = &self.host.kube else { unreachable!("api() checked the cluster") };
        let limit = if limit == 0 { MAX_LIST_PAGE } else { limit.min(MAX_LIST_PAGE) };
        let mut params = ListParams::default().limit(limit);
        if !label_selector.is_empty() {
            params = params.labels(label_selector);
        }
        if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
            params = params.continue_token(&token);
        }
        let url = format!("{}?{}", api.resource_url(), list_query(&params));
        let body = read_bounded(&access.client, &url, self.host.output_cap).await?;
        let list: kube::core::ObjectList<DynamicObject> = serde_json::from_slice(&body)
            .map_err(|e| KubeError::Unavailable(format!("the API server sent an unreadable list: {e}")))?;
        let next = list.metadata.continue_.clone().filter(|t| !t.is_empty());
        Ok((self.bounded(render(&list)?)?, next))
    }

    /// Every object matching the selector, page by page, as one list; fails once they exceed the output cap.
    pub(crate) async fn kube_list_all(
        &mut self,
        res: KubeResource,
        namespace: &str,
        label_selector: &str,
    ) -> Result<String, KubeError> {
        let mut items: Vec<serde_json::Value> = Vec::new();
        let (mut size, mut token) = (0usize, None);
        loop {
            let (page, next) =
                self.kube_list_page(res.clone(), namespace, label_selector, MAX_LIST_PAGE, token).await?;
            size += page.len();
            self.bounded_size(size)?;
            let mut page: serde_json::Value =
                serde_json::from_str(&page).map_err(|e| KubeError::Unavailable(e.to_string()))?;
            if let Some(serde_json::Value::Array(page_items)) =
                page.get_mut("items").map(serde_json::Value::take)
            {
                items.extend(page_items);
            }
            match next {
                Some(t) => token = Some(t),
                None => {
                    page["items"] = serde_json::Value::Array(items);
                    if let Some(meta) = page.get_mut("metadata").and_then(serde_json::Value::as_object_mut) {
                        meta.remove("continue");
                    }
                    return self.bounded(page.to_string());
                }
            }
        }
    }

    fn bounded_size(&self, size: usize) -> Result<(), KubeError> {
        let cap = self.host.output_cap;
        if size > cap {
            return Err(KubeError::TooLarge(format!(
                "the list is more than the plugin's output limit of {cap} bytes; list fewer objects per page"
            )));
        }
        Ok(())
    }

    pub(crate) async fn kube_write(
        &mut self,
        res: KubeResource,
        namespace: &str,
        name: Option<&str>,
        request: KubeRequest,
    ) -> Result<String, KubeError> {
        let verb = match request {
            KubeRequest::Create(_) => Verb::Create,
            KubeRequest::Replace(_) => Verb::Update,
            KubeRequest::MergePatch(_) | KubeRequest::JsonPatch(_) | KubeRequest::Apply { .. } => Verb::Patch,
        };
        let api = self.api(&res, namespace, name, verb)?;
        let name = name.unwrap_or_default();
        let stored = match request {
            KubeRequest::Create(object) => {
                let obj = parse(&object)?;
                self.same_namespace(&obj, namespace)?;
                api.create(&PostParams::default(), &obj).await
            }
            KubeRequest::Replace(object) => {
                let obj = parse(&object)?;
                self.same_namespace(&obj, namespace)?;
                api.replace(name, &PostParams::default(), &obj).await
            }
            KubeRequest::MergePatch(patch) => {
                let patch: serde_json::Value = serde_json::from_str(&patch)
                    .map_err(|e| bad_request(format!("invalid patch JSON: {e}")))?;
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await
            }
            KubeRequest::JsonPatch(patch) => {
                let patch: json_patch::Patch = serde_json::from_str(&patch)
                    .map_err(|e| bad_request(format!("invalid JSON patch (RFC 6902): {e}")))?;
                api.patch(name, &PatchParams::default(), &Patch::<()>::Json(patch)).await
            }
            KubeRequest::Apply { object, force } => {
                let obj = parse(&object)?;
                self.same_namespace(&obj, namespace)?;
                let mut params = PatchParams::apply(&field_manager(&self.host.plugin));
                if force {
                    params = params.force();
                }
                api.patch(name, &params, &Patch::Apply(&obj)).await
            }
        };
        self.bounded(render(&stored.map_err(failure)?)?)
    }

    pub(crate) async fn kube_delete(
        &mut self,
        res: KubeResource,
        namespace: &str,
        name: &str,
    ) -> Result<(), KubeError> {
        let api = self.api(&res, namespace, Some(name), Verb::Delete)?;
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(failure(e)),
        }
    }
}

/// The field manager a plugin's server-side applies are recorded under: `serin-plugin-acme-router`.
fn field_manager(plugin: &str) -> String {
    let mut name: String =
        plugin.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    name.truncate(100);
    format!("serin-plugin-{name}")
}

/// The query string of a list request.
fn list_query(params: &ListParams) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(limit) = params.limit {
        q.append_pair("limit", &limit.to_string());
    }
    if let Some(labels) = &params.label_selector {
        q.append_pair("labelSelector", labels);
    }
    if let Some(token) = &params.continue_token {
        q.append_pair("continue", token);
    }
    q.finish()
}

/// GETs `url` and reads the body only up to `cap` bytes: a larger answer is dropped unread, not held.
async fn read_bounded(client: &kube::Client, url: &str, cap: usize) -> Result<Vec<u8>, KubeError> {
    use http_body_util::BodyExt;
    let request = http::Request::get(url)
        .body(kube::client::Body::empty())
        .map_err(|e| KubeError::Unavailable(e.to_string()))?;
    let response = client.send(request).await.map_err(|e| KubeError::Unavailable(e.to_string()))?;
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| KubeError::Unavailable(e.to_string()))?;
        if let Some(chunk) = frame.data_ref() {
            if bytes.len() + chunk.len() > cap {
                return Err(KubeError::TooLarge(format!(
                    "the list page is more than the plugin's output limit of {cap} bytes; list fewer objects per page"
                )));
            }
            bytes.extend_from_slice(chunk);
        }
    }
    if !status.is_success() {
        let s: Option<kube::core::Status> = serde_json::from_slice(&bytes).ok();
        return Err(match s {
            Some(s) => KubeError::Api { code: status.as_u16(), reason: s.reason, message: s.message },
            None => KubeError::Api {
                code: status.as_u16(),
                reason: status.canonical_reason().unwrap_or_default().to_string(),
                message: String::from_utf8_lossy(&bytes).into_owned(),
            },
        });
    }
    Ok(bytes)
}

fn failure(e: kube::Error) -> KubeError {
    match e {
        kube::Error::Api(status) => KubeError::Api {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        other => KubeError::Unavailable(other.to_string()),
    }
}

fn parse(object: &str) -> Result<DynamicObject, KubeError> {
    serde_json::from_str(object).map_err(|e| bad_request(format!("invalid object JSON: {e}")))
}

fn render<T: serde::Serialize>(v: &T) -> Result<String, KubeError> {
    serde_json::to_string(v).map_err(|e| KubeError::Unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, version: &str, plural: &str) -> KubeResource {
        KubeResource { group: group.into(), version: version.into(), plural: plural.into() }
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
