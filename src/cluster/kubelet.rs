//! Simulated kubelet and controller-manager: Deployment, ReplicaSet and Job controllers, and pods that start and
//! become ready after configurable delays. Driven by the store's change notifications; timers only for the delays.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::deployment::{self, Owned};
use super::object::{self, parse_time};
use super::registry::{GroupResource, ResourceType};
use super::selector::LabelSelector;
use super::store::{ListOptions, Store, Subresource};

/// When a pod using an image becomes ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Running and Ready after this delay.
    After(Duration),
    /// Running (after the default delay) but never Ready.
    Never,
}

/// How a Job whose pod uses an image ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Condition `Complete` after this delay.
    Succeed(Duration),
    /// Condition `Failed` (reason `BackoffLimitExceeded`) after this delay.
    Fail(Duration),
    /// Keeps running until deleted.
    Never,
}

/// Timing of the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Default delay from pod creation to Running + Ready.
    pub ready_after: Duration,
    /// Per-image overrides (exact image string, e.g. `nginx:1.25`).
    pub image_readiness: BTreeMap<String, Readiness>,
    /// Default delay from Job creation to `Complete`.
    pub job_complete_after: Duration,
    /// Per-image Job outcomes (first container image of the pod template that has one wins).
    pub job_outcomes: BTreeMap<String, JobOutcome>,
}

/// The node every simulated pod runs on.
pub const NODE_NAME: &str = "serin-node";
/// Pods a ReplicaSet sync creates at most (the controller-manager's `burstReplicas`).
const BURST_REPLICAS: usize = 500;
/// Started pod and Job uids remembered before the ones no longer stored are forgotten.
const STARTED_PRUNE_AT: usize = 4096;

type NsName = (String, String);

struct Sim {
    store: Arc<Store>,
    cfg: Arc<SimConfig>,
    shutdown: watch::Receiver<bool>,
    requeue: mpsc::UnboundedSender<Work>,
    pods: Arc<ResourceType>,
    replicasets: Arc<ResourceType>,
    deployments: Arc<ResourceType>,
    jobs: Arc<ResourceType>,
    /// core/v1 Events, which the controllers and the scheduler record.
    events: Option<Arc<ResourceType>>,
    started_pods: HashSet<String>,
    started_jobs: HashSet<String>,
    next_ip: u32,
}

/// Something to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    Deployment(NsName),
    ReplicaSet(NsName),
    Job(NsName),
    Pod(NsName),
}

fn builtin(store: &Store, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
    store.by_gr(&GroupResource::new(group, plural))
}

/// Runs the controllers until shutdown.
pub async fn run(store: Arc<Store>, cfg: Arc<SimConfig>, mut shutdown: watch::Receiver<bool>) {
    let (Some(pods), Some(replicasets), Some(deployments), Some(jobs)) = (
        builtin(&store, "", "pods"),
        builtin(&store, "apps", "replicasets"),
        builtin(&store, "apps", "deployments"),
        builtin(&store, "batch", "jobs"),
    ) else {
        tracing::error!("built-in types missing; simulation disabled");
        return;
    };
    let (requeue, mut requeued) = mpsc::unbounded_channel();
    let mut changed = store.subscribe();
    let mut sim = Sim {
        store: store.clone(),
        cfg,
        shutdown: shutdown.clone(),
        requeue,
        pods,
        replicasets,
        deployments,
        jobs,
        events: builtin(&store, "", "events"),
        started_pods: HashSet::new(),
        started_jobs: HashSet::new(),
        next_ip: 1,
    };
    let mut pos = 0u64;
    let mut resync = true;
    loop {
        changed.borrow_and_update();
        let mut work = BTreeSet::new();
        if resync {
            resync = false;
            pos = store.current_rv();
            sim.everything(&mut work);
        }
        match store.events_after(pos) {
            Ok(events) => {
                for e in events {
                    pos = e.rv;
                    sim.classify(&e.gr, &e.object, &mut work);
                }
            }
            Err(_) => {
                // We fell behind the retained history: look at everything again.
                resync = true;
                continue;
            }
        }
        while let Ok(w) = requeued.try_recv() {
            work.insert(w);
        }
        if work.is_empty() {
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                Some(w) = requeued.recv() => { sim.handle(w); }
                _ = shutdown.changed() => return,
            }
            continue;
        }
        for w in work {
            sim.handle(w);
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

impl Sim {
    fn everything(&self, work: &mut BTreeSet<Work>) {
        for (rt, wrap) in [
            (&self.deployments, Work::Deployment as fn(NsName) -> Work),
            (&self.replicasets, Work::ReplicaSet),
            (&self.jobs, Work::Job),
            (&self.pods, Work::Pod),
        ] {
            if let Ok(list) = self.store.list(rt, None, &ListOptions::default()) {
                for o in list.items {
                    work.insert(wrap((object::namespace(&o).to_string(), object::name(&o).to_string())));
                }
            }
        }
    }

    fn classify(&self, gr: &GroupResource, obj: &Value, work: &mut BTreeSet<Work>) {
        let key = (object::namespace(obj).to_string(), object::name(obj).to_string());
        if *gr == self.deployments.gr() {
            work.insert(Work::Deployment(key));
        } else if *gr == self.replicasets.gr() {
            if let Some(owner) = object::controller_ref(obj)
                && owner["kind"] == "Deployment"
                && owner["apiVersion"] == "apps/v1"
            {
                let name = owner["name"].as_str().unwrap_or_default().to_string();
                work.insert(Work::Deployment((key.0.clone(), name)));
            }
            work.insert(Work::ReplicaSet(key));
        } else if *gr == self.jobs.gr() {
            work.insert(Work::Job(key));
        } else if *gr == self.pods.gr() {
            if let Some(owner) = object::controller_ref(obj) {
                let owner_key = (key.0.clone(), owner["name"].as_str().unwrap_or_default().to_string());
                match (owner["kind"].as_str(), owner["apiVersion"].as_str()) {
                    (Some("ReplicaSet"), Some("apps/v1")) => {
                        work.insert(Work::ReplicaSet(owner_key));
                    }
                    (Some("Job"), Some("batch/v1")) => {
                        work.insert(Work::Job(owner_key));
                    }
                    _ => {}
                }
            }
            work.insert(Work::Pod(key));
        }
    }

    /// The uids of every stored object of a type.
    fn live_uids(&self, rt: &ResourceType) -> HashSet<String> {
        self.store
            .list(rt, None, &ListOptions::default())
            .map(|l| l.items.iter().map(|o| object::uid(o).to_string()).collect())
            .unwrap_or_default()
    }

    fn handle(&mut self, w: Work) {
        match w {
            Work::Deployment(k) => self.sync_deployment(&k),
            Work::ReplicaSet(k) => self.sync_replicaset(&k),
            Work::Job(k) => self.sync_job(&k),
            Work::Pod(k) => self.start_pod(&k),
        }
    }

    /// Spawns a delayed action that is abandoned on shutdown.
    fn later(&self, delay: Duration, f: impl FnOnce() + Send + 'static) {
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => f(),
                _ = shutdown.changed() => {}
            }
        });
    }

    fn readiness(&self, pod: &Value) -> Readiness {
        let images: Vec<&str> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| cs.iter().filter_map(|c| c["image"].as_str()).collect())
            .unwrap_or_default();
        let mut delay = self.cfg.ready_after;
        let mut any_override = false;
        for img in images {
            match self.cfg.image_readiness.get(img) {
                Some(Readiness::Never) => return Readiness::Never,
                Some(Readiness::After(d)) => {
                    delay = if any_override { delay.max(*d) } else { *d };
                    any_override = true;
                }
                None => {}
            }
        }
        Readiness::After(delay)
    }

    /// The kubelet: schedules a new pod onto the node and starts it after its delay.
    fn start_pod(&mut self, key: &NsName) {
        let Some(pod) = self.store.get_opt(&self.pods, &key.0, &key.1) else {
            return;
        };
        let uid = object::uid(&pod).to_string();
        if object::is_deleting(&pod)
            || object::str_at(&pod, "/status/phase") != "Pending"
            || self.started_pods.contains(&uid)
        {
            return;
        }
        self.started_pods.insert(uid.clone());
        if self.started_pods.len() > STARTED_PRUNE_AT {
            let live = self.live_uids(&self.pods);
            self.started_pods.retain(|u| live.contains(u));
        }
        let now = object::now();
        if object::str_at(&pod, "/spec/nodeName").is_empty() {
            let _ = self.store.mutate(&self.pods, &key.0, &key.1, Subresource::Main, |new| {
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("nodeName".into(), json!(NODE_NAME));
                }
            });
            let message = format!("Successfully assigned {}/{} to {NODE_NAME}", key.0, key.1);
            self.record(&pod, "default-scheduler", "Scheduled", message);
        }
        let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
        let _ = self.store.mutate(&self.pods, &key.0, &key.1, Subresource::Status, |new| {
            new["status"]["conditions"] = json!([scheduled]);
        });
        let (delay, ready) = match self.readiness(&pod) {
            Readiness::After(d) => (d, true),
            Readiness::Never => (self.cfg.ready_after, false),
        };
        self.next_ip += 1;
        let ip = format!("10.244.{}.{}", (self.next_ip >> 8) & 0xFF, self.next_ip & 0xFF);
        let store = self.store.clone();
        let pods = self.pods.clone();
        let key = key.clone();
        self.later(delay, move || {
            let _ = store.mutate(&pods, &key.0, &key.1, Subresource::Status, |new| {
                if object::uid(new) == uid && object::str_at(new, "/status/phase") == "Pending" {
                    new["status"] = running_status(new, &ip, ready);
                }
            });
        });
    }

    /// Records a Normal Event about `regarding` from `component`, as kube-controller-manager's and the
    /// scheduler's recorders do (`kubectl describe` lists them).
    fn record(&self, regarding: &Value, component: &str, reason: &str, message: String) {
        let Some(events) = &self.events else { return };
        let ns = object::namespace(regarding);
        let nanos = jiff::Timestamp::now().as_nanosecond();
        let now = object::now();
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{}.{nanos:x}", object::name(regarding)), "namespace": ns},
            "involvedObject": {
                "apiVersion": regarding["apiVersion"], "kind": regarding["kind"], "namespace": ns,
                "name": object::name(regarding), "uid": object::uid(regarding),
                "resourceVersion": object::resource_version(regarding),
            },
            "reason": reason, "message": message, "type": "Normal",
            "source": {"component": component},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": component, "reportingInstance": "",
        });
        if let Err(e) = self.store.create(events, ns, event, false) {
            tracing::debug!(error = %e, reason, "recording an event failed");
        }
    }

    fn owned_pods(&self, ns: &str, owner_uid: &str) -> Vec<Arc<Value>> {
        self.store
            .dependents(&self.pods, owner_uid)
            .into_iter()
            .filter(|p| object::namespace(p) == ns)
            .filter(|p| object::controller_ref(p).and_then(|r| r["uid"].as_str()) == Some(owner_uid))
            .collect()
    }

    fn new_pod(&self, owner: &Value, api_version: &str, kind: &str, template: &Value) -> Value {
        let mut meta = json!({
            "generateName": format!("{}-", object::name(owner)),
            "namespace": object::namespace(owner),
            "ownerReferences": [{
                "apiVersion": api_version, "kind": kind, "name": object::name(owner),
                "uid": object::uid(owner), "controller": true, "blockOwnerDeletion": true
            }],
        });
        for k in ["labels", "annotations"] {
            if let Some(v) = template.pointer(&format!("/metadata/{k}")) {
                meta[k] = v.clone();
            }
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))})
    }

    /// The Deployment controller: the plan of `deployment::plan` written out, then the status from the
    /// ReplicaSets as they are now. Changes to the ReplicaSets bring the Deployment back here.
    fn sync_deployment(&mut self, key: &NsName) {
        let Some(d) = self.store.get_opt(&self.deployments, &key.0, &key.1) else {
            return;
        };
        if object::is_deleting(&d) {
            return;
        }
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let owned = self.deployment_replicasets(&d, &template);
        let plan = deployment::plan(&d, &owned);
        if let Some((replicas, revision)) = plan.create
            && !self.create_deployment_replicaset(&d, &template, replicas, revision)
        {
            // A hash collision was counted: the next sync, with a new hash, goes on.
            return;
        }
        let desired = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        for (name, replicas) in &plan.scale {
            if let Some(before) = owned.iter().find(|o| &o.name == name).map(|o| o.replicas) {
                let direction = if *replicas > before { "up" } else { "down" };
                let message = format!("Scaled {direction} replica set {name} from {before} to {replicas}");
                self.record(&d, "deployment-controller", "ScalingReplicaSet", message);
            }
            let _ = self.store.mutate(&self.replicasets, &key.0, name, Subresource::Main, |rs| {
                rs["spec"]["replicas"] = json!(replicas);
                rs["metadata"]["annotations"][deployment::DESIRED_REPLICAS] = json!(desired.to_string());
                rs["metadata"]["annotations"][deployment::MAX_REPLICAS] =
                    json!((desired + deployment::surge(&d)).to_string());
            });
        }
        // The current ReplicaSet follows the Deployment's minReadySeconds; the Deployment names its revision.
        let min_ready = d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0));
        if let Some(current) = owned.iter().find(|r| r.current) {
            let rs = self.store.get_opt(&self.replicasets, &key.0, &current.name);
            if rs.is_some_and(|rs| rs.pointer("/spec/minReadySeconds").unwrap_or(&json!(0)) != &min_ready) {
                let _ =
                    self.store.mutate(&self.replicasets, &key.0, &current.name, Subresource::Main, |rs| {
                        rs["spec"]["minReadySeconds"] = min_ready.clone();
                    });
            }
        }
        if let Some((name, revision)) = &plan.revision {
            let _ = self.store.mutate(&self.replicasets, &key.0, name, Subresource::Main, |rs| {
                rs["metadata"]["annotations"][deployment::REVISION] = json!(revision.to_string());
            });
        }
        for name in &plan.delete {
            let _ = self.store.delete(&self.replicasets, &key.0, name, &Default::default());
        }
        let owned = self.deployment_replicasets(&d, &template);
        if let Some(current) = owned.iter().find(|r| r.current) {
            let revision = current.revision.to_string();
            let recorded = d.pointer("/metadata/annotations").and_then(|a| a.get(deployment::REVISION));
            if recorded.and_then(Value::as_str) != Some(revision.as_str()) {
                let _ = self.store.mutate(&self.deployments, &key.0, &key.1, Subresource::Main, |new| {
                    if object::uid(new) == object::uid(&d) {
                        new["metadata"]["annotations"][deployment::REVISION] = json!(revision);
                    }
                });
            }
        }
        let status = deployment::status(&d, &owned, &object::now());
        let unchanged = |a: &Value, b: &Value| {
            let strip = |v: &Value| {
                let mut v = v.clone();
                for c in v.get_mut("conditions").and_then(Value::as_array_mut).into_iter().flatten() {
                    c.as_object_mut().map(|c| c.remove("lastUpdateTime"));
                }
                v
            };
            strip(a) == strip(b)
        };
        if !unchanged(d.get("status").unwrap_or(&Value::Null), &status) {
            let _ = self.store.mutate(&self.deployments, &key.0, &key.1, Subresource::Status, |new| {
                if object::uid(new) == object::uid(&d) {
                    new["status"] = status;
                }
            });
        }
    }

    /// The ReplicaSets a Deployment controls; of several with its template, the newest revision is current.
    fn deployment_replicasets(&self, d: &Value, template: &Value) -> Vec<Owned> {
        let uid = object::uid(d);
        let mut owned: Vec<Owned> = self
            .store
            .list(&self.replicasets, Some(object::namespace(d)), &ListOptions::default())
            .map(|l| l.items)
            .unwrap_or_default()
            .iter()
            .filter(|rs| !object::is_deleting(rs))
            .filter(|rs| object::controller_ref(rs).and_then(|r| r["uid"].as_str()) == Some(uid))
            .map(|rs| Owned::from_object(rs, template))
            .collect();
        let newest = owned.iter().filter(|r| r.current).map(|r| (r.revision, r.name.clone())).max();
        for r in &mut owned {
            r.current = r.current && Some((r.revision, r.name.clone())) == newest;
        }
        owned
    }

    /// Creates the ReplicaSet of the Deployment's current template; false when its name was taken by another
    /// template's (a hash collision, now counted in the Deployment's status).
    fn create_deployment_replicaset(
        &mut self,
        d: &Value,
        template: &Value,
        replicas: i64,
        revision: i64,
    ) -> bool {
        let (ns, name) = (object::namespace(d), object::name(d));
        let collisions = d.pointer("/status/collisionCount").and_then(Value::as_i64).map(|c| c as i32);
        let Ok(hash) = crate::strategy::hash::pod_template_hash(template, collisions) else {
            tracing::warn!(deployment = %name, "cannot hash the pod template");
            return true;
        };
        let mut template = template.clone();
        template["metadata"]["labels"][deployment::HASH_LABEL] = json!(hash);
        let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"][deployment::HASH_LABEL] = json!(hash);
        let surge_max = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": format!("{name}-{hash}"),
                "namespace": ns,
                "labels": template["metadata"]["labels"].clone(),
                "annotations": {
                    deployment::REVISION: revision.to_string(),
                    deployment::DESIRED_REPLICAS: surge_max.to_string(),
                    deployment::MAX_REPLICAS: (surge_max + deployment::surge(d)).to_string(),
                },
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                     "uid": object::uid(d), "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)),
                "selector": selector,
                "template": template,
            },
        });
        let rs_name = format!("{name}-{hash}");
        match self.store.create(&self.replicasets, ns, rs, false) {
            Ok(_) => {
                if replicas > 0 {
                    let message = format!("Scaled up replica set {rs_name} from 0 to {replicas}");
                    self.record(d, "deployment-controller", "ScalingReplicaSet", message);
                }
                true
            }
            Err(e) if e.code == 409 => {
                // Ours already, with this template (an earlier sync made it): nothing to count.
                let existing = self.store.get_opt(&self.replicasets, ns, &rs_name);
                let ours = existing.is_some_and(|rs| {
                    object::controller_ref(&rs).and_then(|r| r["uid"].as_str()) == Some(object::uid(d))
                        && deployment::same_template(
                            rs.pointer("/spec/template").unwrap_or(&Value::Null),
                            &template,
                        )
                });
                if ours {
                    return true;
                }
                // Another template's: as the controller-manager, count the collision so the next hash differs.
                let _ = self.store.mutate(&self.deployments, ns, name, Subresource::Status, |new| {
                    let count = new.pointer("/status/collisionCount").and_then(Value::as_i64).unwrap_or(0);
                    new["status"]["collisionCount"] = json!(count + 1);
                });
                false
            }
            Err(e) => {
                tracing::warn!(deployment = %name, error = %e, "creating a ReplicaSet failed");
                true
            }
        }
    }

    /// The ReplicaSet controller: pods to match `spec.replicas`, then status like the controller-manager's.
    fn sync_replicaset(&mut self, key: &NsName) {
        let Some(rs) = self.store.get_opt(&self.replicasets, &key.0, &key.1) else {
            return;
        };
        if object::is_deleting(&rs) {
            return;
        }
        let want = rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0) as usize;
        let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut active: Vec<Arc<Value>> = self
            .owned_pods(&key.0, object::uid(&rs))
            .into_iter()
            .filter(|p| {
                !object::is_deleting(p)
                    && !matches!(object::str_at(p, "/status/phase"), "Succeeded" | "Failed")
            })
            .collect();
        if active.len() < want {
            // Like the controller-manager's burstReplicas: a bounded batch per sync, the rest on the next one.
            let batch = (want - active.len()).min(BURST_REPLICAS);
            if active.len() + batch < want {
                let _ = self.requeue.send(Work::ReplicaSet(key.clone()));
            }
            for _ in 0..batch {
                let pod = self.new_pod(&rs, "apps/v1", "ReplicaSet", &template);
                match self.store.create(&self.pods, &key.0, pod, false) {
                    Ok(p) => {
                        let message = format!("Created pod: {}", object::name(&p));
                        self.record(&rs, "replicaset-controller", "SuccessfulCreate", message);
                    }
                    Err(e) => tracing::warn!(replicaset = %key.1, error = %e, "creating pod failed"),
                }
            }
        } else if active.len() > want {
            // Upstream's ranking: unscheduled, pending, not ready, recently ready, newer — deleted first.
            active.sort_by_key(|p| {
                let scheduled = !object::str_at(p, "/spec/nodeName").is_empty();
                let phase = match object::str_at(p, "/status/phase") {
                    "Pending" => 0,
                    "Running" => 2,
                    _ => 1,
                };
                let ready_since = ready_since(p).map(|t| t.as_second()).unwrap_or(i64::MIN);
                let created = parse_time(object::str_at(p, "/metadata/creationTimestamp"))
                    .map(|t| t.as_second())
                    .unwrap_or(0);
                (
                    scheduled,
                    phase,
                    ready_since != i64::MIN,
                    std::cmp::Reverse(ready_since),
                    std::cmp::Reverse(created),
                    object::name(p).to_string(),
                )
            });
            for victim in active.iter().take(active.len() - want) {
                if self.store.delete(&self.pods, &key.0, object::name(victim), &Default::default()).is_ok() {
                    let message = format!("Deleted pod: {}", object::name(victim));
                    self.record(&rs, "replicaset-controller", "SuccessfulDelete", message);
                }
            }
        }
        self.update_rs_status(key, &rs);
    }

    /// Status from the same snapshot of the ReplicaSet the pods were made for, so `observedGeneration` never
    /// claims a spec that was not acted on.
    fn update_rs_status(&mut self, key: &NsName, rs: &Value) {
        let min_ready = rs.pointer("/spec/minReadySeconds").and_then(Value::as_i64).unwrap_or(0);
        let template_labels = rs.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}));
        let pods: Vec<Arc<Value>> = self
            .owned_pods(&key.0, object::uid(rs))
            .into_iter()
            .filter(|p| {
                !object::is_deleting(p)
                    && !matches!(object::str_at(p, "/status/phase"), "Succeeded" | "Failed")
            })
            .collect();
        let now = jiff::Timestamp::now().as_second();
        let mut fully_labeled = 0;
        let mut ready = 0;
        let mut available = 0;
        let mut next_check: Option<i64> = None;
        let tl = LabelSelector::from_object(&json!({"matchLabels": template_labels})).unwrap_or_default();
        for p in &pods {
            if tl.matches_object(p) {
                fully_labeled += 1;
            }
            if let Some(since) = ready_since(p) {
                ready += 1;
                let at = since.as_second().saturating_add(min_ready);
                if at <= now {
                    available += 1;
                } else {
                    next_check = Some(next_check.map_or(at, |n| n.min(at)));
                }
            }
        }
        let mut status = json!({"replicas": pods.len()});
        for (k, v) in [
            ("fullyLabeledReplicas", fully_labeled),
            ("readyReplicas", ready),
            ("availableReplicas", available),
        ] {
            if v > 0 {
                status[k] = json!(v);
            }
        }
        if let Some(g) = rs.pointer("/metadata/generation") {
            status["observedGeneration"] = g.clone();
        }
        if let Some(c) = rs.pointer("/status/conditions") {
            status["conditions"] = c.clone();
        }
        let _ = self.store.mutate(&self.replicasets, &key.0, &key.1, Subresource::Status, |new| {
            if object::uid(new) == object::uid(rs) {
                new["status"] = status;
            }
        });
        if let Some(at) = next_check {
            let tx = self.requeue.clone();
            let key = key.clone();
            let wait = Duration::from_secs((at - now).max(0) as u64) + Duration::from_millis(50);
            self.later(wait, move || {
                let _ = tx.send(Work::ReplicaSet(key));
            });
        }
    }

    fn job_outcome(&self, job: &Value) -> JobOutcome {
        let images: Vec<&str> = job
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| cs.iter().filter_map(|c| c["image"].as_str()).collect())
            .unwrap_or_default();
        images
            .iter()
            .find_map(|i| self.cfg.job_outcomes.get(*i).copied())
            .unwrap_or(JobOutcome::Succeed(self.cfg.job_complete_after))
    }

    /// The Job controller: one pod per Job, then `Complete` or `Failed` after the configured delay.
    fn sync_job(&mut self, key: &NsName) {
        let Some(job) = self.store.get_opt(&self.jobs, &key.0, &key.1) else {
            return;
        };
        let uid = object::uid(&job).to_string();
        let finished = job.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
            cs.iter().any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        });
        if object::is_deleting(&job) || finished || job.pointer("/spec/suspend") == Some(&json!(true)) {
            return;
        }
        let pods = self.owned_pods(&key.0, &uid);
        if pods.is_empty() && job.pointer("/status/startTime").is_none() {
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let pod = self.new_pod(&job, "batch/v1", "Job", &template);
            if let Err(e) = self.store.create(&self.pods, &key.0, pod, false) {
                tracing::warn!(job = %key.1, error = %e, "creating job pod failed");
                return;
            }
            let started = object::now();
            let _ = self.store.mutate(&self.jobs, &key.0, &key.1, Subresource::Status, |new| {
                new["status"] = json!({"startTime": started, "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
            });
        }
        if !self.started_jobs.insert(uid.clone()) {
            return;
        }
        if self.started_jobs.len() > STARTED_PRUNE_AT {
            let live = self.live_uids(&self.jobs);
            self.started_jobs.retain(|u| live.contains(u));
        }
        let (delay, success) = match self.job_outcome(&job) {
            JobOutcome::Succeed(d) => (d, true),
            JobOutcome::Fail(d) => (d, false),
            JobOutcome::Never => return,
        };
        let store = self.store.clone();
        let (pods_rt, jobs_rt) = (self.pods.clone(), self.jobs.clone());
        let key = key.clone();
        self.later(delay, move || finish_job(&store, &pods_rt, &jobs_rt, &key, &uid, success));
    }
}

/// When the pod's Ready condition last turned True.
fn ready_since(pod: &Value) -> Option<jiff::Timestamp> {
    pod.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(parse_time)
}

fn condition(type_: &str, ok: bool, now: &str) -> Value {
    json!({"type": type_, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now})
}

fn running_status(pod: &Value, ip: &str, ready: bool) -> Value {
    let now = object::now();
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let names: Vec<String> =
        containers.iter().filter_map(|c| c["name"].as_str().map(str::to_string)).collect();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({
                "name": c["name"], "image": c["image"], "imageID": "",
                "containerID": format!("serin://{}-{}", object::uid(pod), c["name"].as_str().unwrap_or_default()),
                "ready": ready, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": now}}, "lastState": {}
            })
        })
        .collect();
    let mut ready_cond = condition("Ready", ready, &now);
    let mut containers_ready = condition("ContainersReady", ready, &now);
    if !ready {
        for c in [&mut ready_cond, &mut containers_ready] {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!("containers with unready status: [{}]", names.join(" ")));
        }
    }
    let scheduled_at = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(&now)
        .to_string();
    json!({
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers", true, &now),
            condition("Initialized", true, &now),
            ready_cond,
            containers_ready,
            condition("PodScheduled", true, &scheduled_at),
        ],
        "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": now,
        "containerStatuses": statuses,
        "qosClass": super::object::qos_class(pod)
    })
}

fn finish_job(
    store: &Store,
    pods: &ResourceType,
    jobs: &ResourceType,
    key: &NsName,
    uid: &str,
    success: bool,
) {
    let Some(job) = store.get_opt(jobs, &key.0, &key.1) else {
        return;
    };
    if object::uid(&job) != uid {
        return;
    }
    let now = object::now();
    let owned: Vec<Arc<Value>> = store
        .list(pods, Some(&key.0), &ListOptions::default())
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| object::controller_ref(p).and_then(|r| r["uid"].as_str()) == Some(uid))
        .collect();
    for p in owned {
        let _ = store.mutate(pods, &key.0, object::name(&p), Subresource::Status, |new| {
            let containers = new.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false, "started": false,
                        "restartCount": 0, "lastState": {},
                        "state": {"terminated": {"exitCode": if success { 0 } else { 1 },
                            "reason": if success { "Completed" } else { "Error" }, "startedAt": now, "finishedAt": now}}})
                })
                .collect();
            let status = new["status"].as_object_mut().map(|s| {
                s.insert("phase".into(), json!(if success { "Succeeded" } else { "Failed" }));
                s.insert("containerStatuses".into(), json!(statuses));
                s.insert(
                    "conditions".into(),
                    json!([condition("Ready", false, &now), condition("ContainersReady", false, &now), condition("PodScheduled", true, &now)]),
                );
            });
            if status.is_none() {
                new["status"] = json!({"phase": if success { "Succeeded" } else { "Failed" }});
            }
        });
    }
    let start = job.pointer("/status/startTime").cloned().unwrap_or(json!(now));
    let cond = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": message});
    let status = if success {
        let msg = "Reached expected number of succeeded pods";
        json!({"startTime": start, "completionTime": now, "succeeded": 1, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [cond("SuccessCriteriaMet", "CompletionsReached", msg), cond("Complete", "CompletionsReached", msg)]})
    } else {
        let msg = "Job has reached the specified backoff limit";
        json!({"startTime": start, "failed": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
            "conditions": [cond("FailureTarget", "BackoffLimitExceeded", msg), cond("Failed", "BackoffLimitExceeded", msg)]})
    };
    let _ = store.mutate(jobs, &key.0, &key.1, Subresource::Status, |new| {
        if object::uid(new) == uid {
            new["status"] = status;
        }
    });
}
