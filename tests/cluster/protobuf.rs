//! Protobuf as Go clients speak it, on both substrates: client-go's typed clientset (the control plane's
//! `clientgo` helper) creates, reads, lists, watches, evicts and deletes built-in objects with protobuf bodies,
//! and what it decodes must be what it sent, with the real server's defaults. And the table the embedded
//! server translates with must be the one the Kubernetes types give.

use std::path::PathBuf;

use crate::e2e::controlplane;
use serde_json::{Value, json};

/// One of the control plane's Go helpers, or `None` when the real control plane is skipped (a machine without Go).
fn go_helper(name: &str) -> Option<PathBuf> {
    if std::env::var(controlplane::SKIP_VAR).is_ok_and(|v| !v.is_empty() && v != "0") {
        eprintln!("SKIPPED: {name} needs the control plane's build ({} is set)", controlplane::SKIP_VAR);
        return None;
    }
    Some(controlplane::bin_dir().expect("the control plane's bin directory").join(name))
}

#[test]
fn the_protobuf_table_is_the_one_the_kubernetes_types_give() {
    let Some(bin) = go_helper("protoschema") else { return };
    let out = std::process::Command::new(&bin).output().expect("protoschema runs");
    assert!(out.status.success(), "protoschema: {}", String::from_utf8_lossy(&out.stderr));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/cluster/protobuf/types.json");
    let checked_in = std::fs::read(&path).expect("the checked-in table");
    assert!(
        out.stdout == checked_in,
        "{} is not what the Kubernetes types give; regenerate it with\n  $(tests/controlplane/build.sh)/protoschema > src/cluster/protobuf/types.json",
        path.display()
    );
}

on_both_substrates! {
    async fn typed_go_clients_speak_protobuf(s: &Substrate) {
        let Some(bin) = go_helper("clientgo") else { return };
        let out = tokio::process::Command::new(&bin)
            .arg("-kubeconfig")
            .arg(s.kubeconfig())
            .arg("-namespace")
            .arg(&s.namespace)
            .output()
            .await
            .expect("clientgo runs");
        assert!(out.status.success(), "clientgo: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("clientgo prints JSON");

        // Every answer, errors included, came back in protobuf; the watch as a protobuf stream.
        assert_eq!(
            v["responseTypes"],
            json!(["application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf;stream=watch"])
        );
        assert_eq!(v["namespacePhase"], "Active");
        assert_eq!(v["configmap"]["data"], json!({"greeting": "hello", "empty": ""}));
        assert_eq!(v["configmap"]["binaryData"], json!({"bin": "AAEC/w=="}));
        assert_eq!(v["secret"]["data"], json!({"key": "AAEC/w==", "text": "cGxhaW4="}), "stringData folded into data");
        assert!(v["secret"].get("stringData").is_none());

        // A pod: int-or-strings, quantities, pointers, inline volume sources; then the real server's defaults.
        let pod = &v["pod"];
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["resources"]["requests"], json!({"cpu": "100m", "memory": "64Mi"}));
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"}, "periodSeconds": 5,
                   "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["livenessProbe"]["tcpSocket"], json!({"port": 8080}));
        assert_eq!(c["securityContext"], json!({"runAsUser": 1000}));
        assert_eq!(c["env"], json!([{"name": "MODE", "value": "test"}]));
        let volumes = pod["spec"]["volumes"].as_array().expect("volumes");
        let config = volumes.iter().find(|v| v["name"] == "config").expect("the config volume");
        assert_eq!(config["configMap"], json!({"name": "cm", "defaultMode": 420}));
        for (field, want) in [
            ("enableServiceLinks", json!(true)),
            ("serviceAccountName", json!("default")),
            ("priority", json!(0)),
            ("preemptionPolicy", json!("PreemptLowerPriority")),
        ] {
            assert_eq!(pod["spec"][field], want, "{field}");
        }
        let tolerated: Vec<&Value> = pod["spec"]["tolerations"].as_array().expect("tolerations").iter().map(|t| &t["key"]).collect();
        assert_eq!(tolerated, [&json!("node.kubernetes.io/not-ready"), &json!("node.kubernetes.io/unreachable")]);
        assert_eq!(pod["status"]["qosClass"], "Burstable");

        // A pointer to zero is kept: replicas 0 is not the default 1.
        assert_eq!(v["deployment"]["spec"]["replicas"], 0);
        assert_eq!(v["deployment"]["spec"]["strategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}}));
        assert_eq!(v["lease"]["spec"], json!({"holderIdentity": "me", "acquireTime": "2026-01-02T03:04:05.123456Z", "leaseDurationSeconds": 15}));
        let reasons = v["coreEventReasons"].as_array().expect("events");
        assert!(reasons.contains(&json!("Tested")), "the events.k8s.io Event is listed as a core one: {reasons:?}");
        assert_eq!(v["listed"], json!(["cm"]));
        assert_eq!(v["watched"], json!({"type": "MODIFIED", "name": "cm", "greeting": "changed"}));
        assert_eq!((v["evicted"].as_str(), v["deleted"].as_str()), (Some("ok"), Some("ok")));
        assert_eq!(v["getDeleted"], "deployments.apps \"d\" not found");
        assert!(v.get("afterStop").is_none(), "{v}");
    }
}
