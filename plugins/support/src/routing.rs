//! What the built-in traffic routers share: ownership by the Rollout, regular-expression quoting, and (as a
//! macro, since each plugin has its own generated bindings) the error text and reply of a call.

use serde_json::{Value, json};

/// `IsControlledBy`: `object`'s controller owner reference has `uid`.
pub fn owned_by(object: &Value, uid: &str) -> bool {
    object.pointer("/metadata/ownerReferences").and_then(Value::as_array).into_iter().flatten().any(|o| {
        o.get("controller").and_then(Value::as_bool) == Some(true)
            && o.get("uid").and_then(Value::as_str) == Some(uid)
    })
}

/// The owner reference making the Rollout `name` (`uid`) an object's controller, so the object goes with it.
pub fn rollout_owner(name: &str, uid: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// `s` with the characters regular expressions treat specially escaped (a prefix match written as a pattern).
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Defines, in a router plugin whose bindings are in scope (`K8sError`, `Reply`, `Outcome`), `err` (a
/// Kubernetes error as text) and `reply` (a call's result as the router's answer, keeping its state).
#[macro_export]
macro_rules! router_replies {
    () => {
        fn err(e: K8sError) -> String {
            match e {
                K8sError::Denied(m) | K8sError::Unavailable(m) | K8sError::TooLarge(m) => m,
                K8sError::Api(f) => f.message,
            }
        }

        fn reply(out: Result<(), String>) -> Reply {
            Reply {
                outcome: match out {
                    Ok(()) => Outcome::Done,
                    Err(e) => Outcome::Failed(e),
                },
                state: None,
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_and_quoting() {
        let o = json!({"metadata": {"ownerReferences": [rollout_owner("ro", "u1")]}});
        assert!(owned_by(&o, "u1"));
        assert!(!owned_by(&o, "u2"));
        assert!(!owned_by(&json!({"metadata": {}}), "u1"));
        assert_eq!(regex_escape("v2.(x)"), "v2\\.\\(x\\)");
    }
}
