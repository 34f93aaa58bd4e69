//! The translator through its public functions: round trips, Go's zero-value rules, bad bodies, pruning.

use super::*;
use serde_json::json;

#[test]
fn every_built_in_kind_and_its_list_has_a_protobuf_form() {
    for rt in super::super::registry::builtins() {
        let api_version = rt.api_version(rt.preferred_version());
        for kind in [rt.kind.clone(), format!("{}List", rt.kind)] {
            assert!(TABLE.kind(&api_version, &kind).is_some(), "{api_version} {kind}");
        }
    }
    for kind in ["Status", "DeleteOptions"] {
        assert!(TABLE.kind("apps/v1", kind).is_some(), "{kind} under any version");
    }
}

#[test]
fn objects_survive_the_round_trip() {
    let cases = [
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n", "labels": {"a": "b"}, "creationTimestamp": "2026-12-01T10:00:00Z",
                "managedFields": [{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:a": {}}}, "time": "2026-12-01T10:00:00Z"}]},
            "data": {"a": "1", "empty": ""}, "binaryData": {"b": "AAEC/w=="}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
                    "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "500m"}},
                        "readinessProbe": {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 5}}],
                    "volumes": [{"name": "v", "configMap": {"name": "c", "defaultMode": 420}}]}}}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
            "spec": {"holderIdentity": "me", "acquireTime": "2026-01-02T03:04:05.123456Z", "leaseDurationSeconds": 15}}),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "ws.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "ws", "kind": "W"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"spec": {"type": "object", "additionalProperties": {"type": "string"},
                        "properties": {"size": {"type": "integer", "maximum": 10, "default": 1,
                            "enum": [1, 2, 10]}}},
                        "items": {"type": "array", "items": {"type": "string"}}}}}}]}}),
        json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "reason": "NotFound",
            "message": "configmaps \"x\" not found", "code": 404,
            "details": {"name": "x", "kind": "configmaps"}}),
    ];
    for obj in cases {
        let body = encode(&obj).unwrap_or_else(|e| panic!("{e}: {obj}"));
        assert!(body.starts_with(MAGIC));
        assert_eq!(decode(&body).expect("decodes"), obj);
    }
}

#[test]
fn zero_values_follow_go_s_json_encoding() {
    // What a Go client writes for a ConfigMap with an empty name-less ObjectMeta: non-pointer strings and
    // ints are always on the wire, and Go's JSON encoding then leaves out the omitempty ones.
    let mut meta = Vec::new();
    put_bytes(&mut meta, 1, b"c"); // name
    put_bytes(&mut meta, 2, b""); // generateName
    put_varint_field(&mut meta, 7, 0); // generation
    put_bytes(&mut meta, 8, &[]); // creationTimestamp, zero
    let mut cm = Vec::new();
    put_bytes(&mut cm, 1, &meta);
    put_varint_field(&mut cm, 4, 0); // immutable: a pointer, so false is kept
    let mut tm = Vec::new();
    put_bytes(&mut tm, 1, b"v1");
    put_bytes(&mut tm, 2, b"ConfigMap");
    let mut body = MAGIC.to_vec();
    put_bytes(&mut body, 1, &tm);
    put_bytes(&mut body, 2, &cm);
    assert_eq!(
        decode(&body).expect("decodes"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "immutable": false})
    );
}

#[test]
fn bad_bodies_are_errors_not_panics() {
    for (body, want) in [
        (&b"{}"[..], "prefix"),
        (&b"k8s\0\x0a"[..], "truncated"),
        (&b"k8s\0\x0a\x00"[..], "names no kind"),
        (&b"k8s\0\x0a\x06\x12\x04Nope"[..], "no protobuf encoding"),
    ] {
        let e = decode(body).expect_err("refused");
        assert!(e.contains(want), "{e}");
    }
    assert!(encode(&json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": 1}})).is_err());
    // A CRD whose schema nests ten thousand levels deep is refused, not a stack overflow.
    let mut schema = Vec::new();
    for _ in 0..10_000 {
        let mut outer = Vec::new();
        put_bytes(&mut outer, 28, &schema); // JSONSchemaProps.not
        schema = outer;
    }
    let mut validation = Vec::new();
    put_bytes(&mut validation, 1, &schema);
    let mut version = Vec::new();
    put_bytes(&mut version, 4, &validation);
    let mut spec = Vec::new();
    put_bytes(&mut spec, 7, &version);
    let mut crd = Vec::new();
    put_bytes(&mut crd, 2, &spec);
    let mut tm = Vec::new();
    put_bytes(&mut tm, 1, b"apiextensions.k8s.io/v1");
    put_bytes(&mut tm, 2, b"CustomResourceDefinition");
    let mut body = MAGIC.to_vec();
    put_bytes(&mut body, 1, &tm);
    put_bytes(&mut body, 2, &crd);
    let e = decode(&body).expect_err("too deep");
    assert!(e.contains("deeper than"), "{e}");
    assert!(encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})).is_err());
}

#[test]
fn unknown_fields_of_built_in_kinds_are_pruned_where_they_are() {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "zz": 1,
        "metadata": {"name": "p", "labels": {"any": "label"}, "nope": true},
        "spec": {"foo": 1, "containers": [{"name": "c", "image": "i", "bar": 2,
            "readinessProbe": {"httpGet": {"port": 80, "baz": 3}}}],
            "volumes": [{"name": "v", "configMap": {"name": "c", "qux": 4}}]},
        "status": {}});
    let unknown = prune_unknown(&mut pod).expect("a built-in kind");
    assert_eq!(
        unknown,
        [
            "zz",
            "metadata.nope",
            "spec.foo",
            "spec.volumes[0].configMap.qux",
            "spec.containers[0].bar",
            "spec.containers[0].readinessProbe.httpGet.baz"
        ]
    );
    assert_eq!(
        pod,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"any": "label"}},
            "spec": {"containers": [{"name": "c", "image": "i", "readinessProbe": {"httpGet": {"port": 80}}}],
                "volumes": [{"name": "v", "configMap": {"name": "c"}}]},
            "status": {}})
    );
    assert!(prune_unknown(&mut json!({"apiVersion": "example.com/v1", "kind": "Widget"})).is_none());
}

#[test]
fn negotiation_follows_the_first_media_type() {
    assert!(preferred("application/vnd.kubernetes.protobuf,application/json"));
    assert!(preferred("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"));
    assert!(!preferred("application/json, application/vnd.kubernetes.protobuf"));
    assert!(!preferred("*/*"));
}
