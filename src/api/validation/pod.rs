//! The Kubernetes checks upstream reuses for pod templates: selectors, container names, quantities.
//!
//! Upstream calls `ValidatePodTemplateSpecForReplicaSet` from the Kubernetes tree. Serin implements
//! the part of it that a manifest can get wrong without the cluster's help (the rest is enforced when
//! the ReplicaSet is created): selector/label agreement, container presence and names, restart
//! policy, `activeDeadlineSeconds`, and resource quantities (which upstream rejects while decoding).

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, PodSpec, PodTemplateSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{Errors, FieldPath};

/// Kubernetes' `DNS1123LabelErrMsg` with its example.
const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Why a quantity string is not a Kubernetes quantity. `Display` texts are apimachinery's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not `<sign><number><suffix>`.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    /// A suffix that is neither SI, binary SI nor a decimal exponent.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// Checks a quantity with apimachinery's `ParseQuantity` grammar (`100m`, `1.5Gi`, `1e3`, `"-"` = 0).
pub fn parse_quantity(s: &str) -> Result<(), QuantityError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(QuantityError::Format);
    }
    let mut pos = 0;
    if matches!(b[0], b'+' | b'-') {
        pos += 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && matches!(b[pos], b'+' | b'-') {
        pos += 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != b.len() {
        return Err(QuantityError::Format);
    }
    let suffix = &s[suffix_start..];
    let known = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if known.contains(&suffix) {
        return Ok(());
    }
    let mut chars = suffix.chars();
    if matches!(chars.next(), Some('e' | 'E')) && suffix.len() > 1 && suffix[1..].parse::<i64>().is_ok() {
        return Ok(());
    }
    Err(QuantityError::Suffix)
}

/// Whether `labels` satisfy `selector` (matchLabels and matchExpressions, Kubernetes semantics).
///
/// An unknown operator matches nothing, as an unconvertible selector does upstream.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    for (k, v) in selector.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return false;
        }
    }
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        let value = labels.get(&req.key);
        let ok = match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether Kubernetes' `LabelSelectorAsSelector` accepts the selector's requirements.
pub(crate) fn selector_convertible(selector: &LabelSelector) -> bool {
    selector.match_expressions.iter().flatten().all(|req| {
        let has_values = req.values.as_ref().is_some_and(|v| !v.is_empty());
        match req.operator.as_str() {
            "In" | "NotIn" => has_values,
            "Exists" | "DoesNotExist" => !has_values,
            _ => false,
        }
    })
}

fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector.match_expressions.as_ref().is_none_or(|e| e.is_empty())
}

/// Kubernetes' `ValidateLabelSelector` requirements checks.
pub(crate) fn validate_label_selector(selector: &LabelSelector, path: &FieldPath, errs: &mut Errors) {
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let req_path = path.child("matchExpressions").index(i);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.required(
                        &req_path.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    );
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.forbidden(
                        &req_path.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    );
                }
            }
            _ => errs.invalid(&req_path.child("operator"), "not a valid selector operator"),
        }
    }
}

/// `ValidatePodTemplateSpecForReplicaSet`, the parts serin checks (see the module comment).
pub(crate) fn validate_pod_template(
    template: Option<&PodTemplateSpec>,
    selector: Option<&LabelSelector>,
    path: &FieldPath,
    errs: &mut Errors,
) {
    let empty = BTreeMap::new();
    let labels = template.and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref()).unwrap_or(&empty);
    if let Some(selector) = selector
        && !selector_is_empty(selector)
        && !selector_matches(selector, labels)
    {
        errs.invalid(&path.child("metadata").child("labels"), "`selector` does not match template `labels`");
    }
    let spec_path = path.child("spec");
    match template.and_then(|t| t.spec.as_ref()) {
        Some(spec) => validate_pod_spec(spec, &spec_path, errs),
        None => errs.required(&spec_path.child("containers"), ""),
    }
}

fn validate_pod_spec(spec: &PodSpec, path: &FieldPath, errs: &mut Errors) {
    let mut names = HashSet::new();
    if spec.containers.is_empty() {
        errs.required(&path.child("containers"), "");
    }
    for (i, c) in spec.containers.iter().enumerate() {
        validate_container_name(&c.name, &path.child("containers").index(i), &mut names, errs);
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        validate_container_name(&c.name, &path.child("initContainers").index(i), &mut names, errs);
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        validate_container_name(&c.name, &path.child("ephemeralContainers").index(i), &mut names, errs);
    }
    if let Some(policy) = spec.restart_policy.as_deref()
        && policy != "Always"
    {
        errs.not_supported(&path.child("restartPolicy"), policy, &["Always"]);
    }
    if spec.active_deadline_seconds.is_some() {
        errs.forbidden(
            &path.child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        );
    }
    validate_pod_spec_quantities(spec, path, errs);
}

/// Every resource quantity of a pod spec (containers, init and ephemeral containers, pod-level
/// resources, overhead, emptyDir and ephemeral volume sizes). Upstream rejects a bad one while
/// decoding, wherever the pod spec is embedded (Rollout, Experiment, Job metric).
pub(crate) fn validate_pod_spec_quantities(spec: &PodSpec, path: &FieldPath, errs: &mut Errors) {
    for (i, c) in spec.containers.iter().enumerate() {
        validate_container_resources(c, &path.child("containers").index(i), errs);
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        validate_container_resources(c, &path.child("initContainers").index(i), errs);
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        validate_ephemeral_container_resources(c, &path.child("ephemeralContainers").index(i), errs);
    }
    validate_quantities(spec.overhead.as_ref(), &path.child("overhead"), errs);
    if let Some(resources) = spec.resources.as_ref() {
        validate_resources(resources, &path.child("resources"), errs);
    }
    for (i, volume) in spec.volumes.iter().flatten().enumerate() {
        let vpath = path.child("volumes").index(i);
        if let Some(size) = volume.empty_dir.as_ref().and_then(|e| e.size_limit.as_ref()) {
            validate_quantity(size, &vpath.child("emptyDir").child("sizeLimit"), errs);
        }
        if let Some(resources) = volume
            .ephemeral
            .as_ref()
            .and_then(|e| e.volume_claim_template.as_ref())
            .and_then(|t| t.spec.resources.as_ref())
        {
            let rpath =
                vpath.child("ephemeral").child("volumeClaimTemplate").child("spec").child("resources");
            validate_quantities(resources.limits.as_ref(), &rpath.child("limits"), errs);
            validate_quantities(resources.requests.as_ref(), &rpath.child("requests"), errs);
        }
    }
}

fn validate_container_resources(c: &Container, path: &FieldPath, errs: &mut Errors) {
    if let Some(resources) = c.resources.as_ref() {
        validate_resources(resources, &path.child("resources"), errs);
    }
}

fn validate_ephemeral_container_resources(c: &EphemeralContainer, path: &FieldPath, errs: &mut Errors) {
    if let Some(resources) = c.resources.as_ref() {
        validate_resources(resources, &path.child("resources"), errs);
    }
}

fn validate_container_name(name: &str, path: &FieldPath, names: &mut HashSet<String>, errs: &mut Errors) {
    let name_path = path.child("name");
    if name.is_empty() {
        errs.required(&name_path, "");
        return;
    }
    if !is_dns1123_label(name) {
        errs.invalid(&name_path, DNS1123_LABEL_MESSAGE);
    }
    if !names.insert(name.to_owned()) {
        errs.duplicate(&name_path, name);
    }
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && alnum(&b[0])
        && alnum(&b[b.len() - 1])
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

fn validate_resources(resources: &ResourceRequirements, path: &FieldPath, errs: &mut Errors) {
    validate_quantities(resources.limits.as_ref(), &path.child("limits"), errs);
    validate_quantities(resources.requests.as_ref(), &path.child("requests"), errs);
}

fn validate_quantities(map: Option<&BTreeMap<String, Quantity>>, path: &FieldPath, errs: &mut Errors) {
    for (name, q) in map.into_iter().flatten() {
        validate_quantity(q, &path.child(name), errs);
    }
}

fn validate_quantity(q: &Quantity, path: &FieldPath, errs: &mut Errors) {
    if let Err(e) = parse_quantity(&q.0) {
        errs.invalid(path, e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_follow_apimachinery_grammar() {
        for ok in
            ["1", "0", "100m", "1.5Gi", "512Mi", "1e3", "1E-2", "+1", "-1", ".5", "1.", "-", "2k", "1Ei"]
        {
            assert_eq!(parse_quantity(ok), Ok(()), "{ok}");
        }
        for (bad, err) in [
            ("", QuantityError::Format),
            ("invalid", QuantityError::Format),
            ("1 Gi", QuantityError::Format),
            ("1.2.3", QuantityError::Format),
            ("1e", QuantityError::Suffix),
            ("1Gb", QuantityError::Format),
            ("1mm", QuantityError::Suffix),
            ("1KI", QuantityError::Format),
        ] {
            assert_eq!(parse_quantity(bad), Err(err), "{bad}");
        }
    }

    #[test]
    fn dns_labels_are_lowercase_alphanumerics_and_dashes() {
        assert!(is_dns1123_label("rollouts-demo"));
        assert!(is_dns1123_label("a1"));
        assert!(!is_dns1123_label("Demo"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }
}
