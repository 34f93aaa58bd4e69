//! Kubernetes Events as upstream's controllers record them: core/v1 Events (what `kubectl describe` and
//! `kubectl get events` show), one per distinct reason and message; a repeat of the same one within ten minutes
//! raises its count instead (client-go's event correlator). kube-runtime's recorder groups events by reason
//! alone, which would hide every message after the first of each reason.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The component named on every Event serin's controllers record: upstream's controller agent name, so that
/// tools filtering on it keep working.
pub const COMPONENT: &str = "rollouts-controller";

/// How long a repeat of an event counts on the existing one.
const REPEAT_WINDOW: Duration = Duration::from_secs(600);
/// Distinct events remembered for counting repeats.
const REMEMBERED: usize = 4096;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    warning: bool,
    reason: String,
    message: String,
}

struct Seen {
    name: String,
    namespace: String,
    count: i32,
    at: Instant,
}

/// Records Events for one controller component.
pub struct EventRecorder {
    client: kube::Client,
    component: String,
    /// Counts the Events about Rollouts (`rollout_events_total`).
    metrics: Option<std::sync::Arc<super::metrics::Metrics>>,
    instance: Option<String>,
    seen: Mutex<HashMap<Key, Seen>>,
}

impl EventRecorder {
    pub fn new(client: kube::Client, component: &str) -> EventRecorder {
        EventRecorder {
            client,
            component: component.into(),
            metrics: None,
            instance: std::env::var("POD_NAME").ok(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts the Events it records about Rollouts in `metrics`.
    pub fn counting(mut self, metrics: std::sync::Arc<super::metrics::Metrics>) -> EventRecorder {
        self.metrics = Some(metrics);
        self
    }

    /// Records an event about `object`. Failures are logged, never returned: Events are best effort.
    pub async fn record(&self, object: &ObjectReference, warning: bool, reason: &str, message: &str) {
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
        if let Some(m) = &self.metrics
            && object.kind.as_deref() == Some("Rollout")
            && !reason.is_empty()
        {
            m.rollout_event(&namespace, object.name.as_deref().unwrap_or(""), warning, reason);
        }
        let key = Key {
            uid: object.uid.clone().unwrap_or_default(),
            warning,
            reason: reason.into(),
            message: message.into(),
        };
        let now = jiff::Timestamp::now();
        let repeat = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            match seen.get_mut(&key) {
                Some(s) if s.at.elapsed() < REPEAT_WINDOW => {
                    s.count += 1;
                    s.at = Instant::now();
                    Some((s.name.clone(), s.namespace.clone(), s.count))
                }
                _ => None,
            }
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Some((name, ns, count)) = repeat {
            let patch = serde_json::json!({"count": count, "lastTimestamp": Time(now)});
            let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
            if api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                return;
            }
        }
        let object_name = object.name.clone().unwrap_or_default();
        let name = format!("{object_name}.{:x}", now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            source: Some(EventSource { component: Some(self.component.clone()), host: None }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            count: Some(1),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.instance.clone().unwrap_or_else(|| self.component.clone())),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                if seen.len() >= REMEMBERED {
                    seen.retain(|_, s| s.at.elapsed() < REPEAT_WINDOW);
                    if seen.len() >= REMEMBERED {
                        seen.clear();
                    }
                }
                seen.insert(key, Seen { name, namespace, count: 1, at: Instant::now() });
            }
            Err(e) => tracing::debug!(object = %object_name, reason, "cannot record event: {e}"),
        }
    }
}
