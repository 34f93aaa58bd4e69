//! Kubernetes Events as upstream's controllers record them: core/v1 Events (what `kubectl describe` and
//! `kubectl get events` show), one per distinct reason and message; a repeat of the same one within ten minutes
//! raises its count instead (client-go's event correlator). kube-runtime's recorder groups events by reason
//! alone, which would hide every message after the first of each reason.
//!
//! As client-go's broadcaster does, recording never waits for the API server: an Event is queued and written
//! in the background, in the order recorded, so a reconcile's latency does not include its Events. Their writes
//! have a request budget of their own (the kubelet's `--event-qps` and `--event-burst`), so a burst of Events
//! never delays a reconcile's writes either. A full queue drops new Events, with a warning, as client-go does.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The component named on every Event serin's controllers record: upstream's controller agent name, so that
/// tools filtering on it keep working.
pub const COMPONENT: &str = "rollouts-controller";

/// How long a repeat of an event counts on the existing one.
const REPEAT_WINDOW: Duration = Duration::from_secs(600);
/// Distinct events remembered for counting repeats.
const REMEMBERED: usize = 4096;
/// Events waiting to be written, at most (client-go's broadcaster queues 1,000).
const QUEUED: usize = 10_000;

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

/// An Event as recorded, waiting to be written.
struct Queued {
    object: ObjectReference,
    key: Key,
    /// When it was recorded: its timestamps and the end of its name, so Events keep the order they were recorded
    /// in however late they are written.
    at: jiff::Timestamp,
}

/// Records Events for one controller component.
pub struct EventRecorder {
    queue: mpsc::Sender<Queued>,
    /// Counts the Events about Rollouts (`rollout_events_total`).
    metrics: Option<Arc<super::metrics::Metrics>>,
    dropped: AtomicU64,
}

impl EventRecorder {
    /// A recorder writing through `client` (which carries the Events' own request budget, if any) from a task
    /// on the current runtime; the task ends once every queued Event is written and the recorder is dropped.
    pub fn new(client: kube::Client, component: &str) -> EventRecorder {
        let (queue, receiver) = mpsc::channel(QUEUED);
        let writer = Writer {
            client,
            component: component.into(),
            instance: std::env::var("POD_NAME").ok(),
            seen: HashMap::new(),
        };
        tokio::spawn(writer.run(receiver));
        EventRecorder { queue, metrics: None, dropped: AtomicU64::new(0) }
    }

    /// Counts the Events it records about Rollouts in `metrics`.
    pub fn counting(mut self, metrics: Arc<super::metrics::Metrics>) -> EventRecorder {
        self.metrics = Some(metrics);
        self
    }

    /// Records an event about `object`, to be written in the background. Never waits and never fails: Events
    /// are best effort.
    pub fn record(&self, object: &ObjectReference, warning: bool, reason: &str, message: &str) {
        let namespace = object.namespace.as_deref().unwrap_or("default");
        if let Some(m) = &self.metrics
            && object.kind.as_deref() == Some("Rollout")
            && !reason.is_empty()
        {
            m.rollout_event(namespace, object.name.as_deref().unwrap_or(""), warning, reason);
        }
        let key = Key {
            uid: object.uid.clone().unwrap_or_default(),
            warning,
            reason: reason.into(),
            message: message.into(),
        };
        let queued = Queued { object: object.clone(), key, at: jiff::Timestamp::now() };
        if self.queue.try_send(queued).is_err() {
            // Warned at the 1st, 2nd, 4th, 8th… drop, so a long overflow does not flood the log.
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "{QUEUED} Events are waiting to be written: dropping new ones ({reason} about {})",
                    object.name.as_deref().unwrap_or("")
                );
            }
        }
    }
}

/// Writes the queued Events, one at a time, in order.
struct Writer {
    client: kube::Client,
    component: String,
    instance: Option<String>,
    seen: HashMap<Key, Seen>,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Queued>) {
        while let Some(queued) = receiver.recv().await {
            self.write(queued).await;
        }
    }

    async fn write(&mut self, Queued { object, key, at }: Queued) {
        let repeat = match self.seen.get_mut(&key) {
            Some(s) if s.at.elapsed() < REPEAT_WINDOW => {
                s.count += 1;
                s.at = Instant::now();
                Some((s.name.clone(), s.namespace.clone(), s.count))
            }
            _ => None,
        };
        if let Some((name, ns, count)) = repeat {
            let patch = serde_json::json!({"count": count, "lastTimestamp": Time(at)});
            let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
            if api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                return;
            }
        }
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
        let object_name = object.name.clone().unwrap_or_default();
        let name = format!("{object_name}.{:x}", at.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: object,
            reason: Some(key.reason.clone()),
            message: Some(key.message.clone()),
            type_: Some(if key.warning { "Warning" } else { "Normal" }.into()),
            source: Some(EventSource { component: Some(self.component.clone()), host: None }),
            first_timestamp: Some(Time(at)),
            last_timestamp: Some(Time(at)),
            event_time: None::<MicroTime>,
            count: Some(1),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.instance.clone().unwrap_or_else(|| self.component.clone())),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                if self.seen.len() >= REMEMBERED {
                    self.seen.retain(|_, s| s.at.elapsed() < REPEAT_WINDOW);
                    if self.seen.len() >= REMEMBERED {
                        self.seen.clear();
                    }
                }
                self.seen.insert(key, Seen { name, namespace, count: 1, at: Instant::now() });
            }
            Err(e) => tracing::debug!(object = %object_name, reason = key.reason, "cannot record event: {e}"),
        }
    }
}
