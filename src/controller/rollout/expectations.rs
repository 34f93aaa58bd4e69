//! What the controller wrote that its watch caches may not show yet (client-go's "expectations"). A pass
//! that starts from a cache older than the controller's own last writes would decide again what was already
//! done: repeat a step's Events, or fail its writes on a stale resourceVersion and retry later. Instead it
//! waits for the watch to deliver the writes, which triggers the next pass anyway.
//!
//! Per Rollout it remembers the resourceVersions its writes replaced (of the Rollout, its ReplicaSets and
//! AnalysisRuns), the objects it created and the ones it deleted. A pass whose inputs still show any of them
//! is early; one that shows none of them clears the record. A record older than [`EXPECTATION_TTL`] no longer
//! holds a pass back, so a lost watch event can delay a Rollout but not stop it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a write may take to reach the caches before a pass goes ahead without it.
pub const EXPECTATION_TTL: Duration = Duration::from_secs(30);

/// How many records there may be before expired ones are looked for.
const PURGE_AT: usize = 256;

/// What a pass read: for each object, its uid, name and resourceVersion, and whether it is being deleted.
#[derive(Debug, Clone, Default)]
pub struct Seen<'a> {
    pub objects: Vec<SeenObject<'a>>,
}

#[derive(Debug, Clone)]
pub struct SeenObject<'a> {
    pub kind: &'a str,
    pub uid: &'a str,
    pub name: &'a str,
    pub resource_version: &'a str,
    pub terminating: bool,
}

#[derive(Debug)]
struct Pending {
    since: Instant,
    /// (uid, resourceVersion) pairs replaced by a write.
    superseded: HashSet<(String, String)>,
    /// (kind, name) of objects created.
    created: HashSet<(String, String)>,
    /// uids of objects deleted.
    deleted: HashSet<String>,
}

impl Pending {
    fn new(now: Instant) -> Pending {
        Pending { since: now, superseded: HashSet::new(), created: HashSet::new(), deleted: HashSet::new() }
    }

    /// The first of the writes `seen` does not reflect yet.
    fn unmet(&self, seen: &Seen<'_>) -> Option<String> {
        for o in &seen.objects {
            if self.superseded.contains(&(o.uid.to_string(), o.resource_version.to_string())) {
                return Some(format!("{} {} at a resourceVersion since replaced", o.kind, o.name));
            }
            if !o.terminating && self.deleted.contains(o.uid) {
                return Some(format!("{} {} since deleted", o.kind, o.name));
            }
        }
        self.created
            .iter()
            .find(|(kind, name)| !seen.objects.iter().any(|o| o.kind == kind && o.name == name))
            .map(|(kind, name)| format!("no {kind} {name}, since created"))
    }
}

/// Expectations of every Rollout, by Rollout uid.
#[derive(Debug, Default)]
pub struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn with(&self, rollout: &str, now: Instant, f: impl FnOnce(&mut Pending)) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Records of Rollouts that are gone (or quiet) are dropped now and then.
        if pending.len() >= PURGE_AT {
            pending.retain(|_, p| now.duration_since(p.since) < EXPECTATION_TTL);
        }
        let p = pending.entry(rollout.to_string()).or_insert_with(|| Pending::new(now));
        p.since = now;
        f(p);
    }

    /// A write replaced version `resource_version` of the object `uid`.
    pub fn superseded(&self, rollout: &str, uid: &str, resource_version: &str) {
        if uid.is_empty() || resource_version.is_empty() {
            return;
        }
        self.with(rollout, Instant::now(), |p| {
            p.superseded.insert((uid.to_string(), resource_version.to_string()));
        });
    }

    /// The object `kind`/`name` was created.
    pub fn created(&self, rollout: &str, kind: &str, name: &str) {
        self.with(rollout, Instant::now(), |p| {
            p.created.insert((kind.to_string(), name.to_string()));
        });
    }

    /// The object `uid` was deleted.
    pub fn deleted(&self, rollout: &str, uid: &str) {
        if uid.is_empty() {
            return;
        }
        self.with(rollout, Instant::now(), |p| {
            p.deleted.insert(uid.to_string());
        });
    }

    /// `None` when `seen` reflects every write recorded for the Rollout (which clears the record), otherwise
    /// the first write it does not reflect yet.
    pub fn unmet(&self, rollout: &str, seen: &Seen<'_>) -> Option<String> {
        self.unmet_at(rollout, seen, Instant::now())
    }

    fn unmet_at(&self, rollout: &str, seen: &Seen<'_>, now: Instant) -> Option<String> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let p = pending.get(rollout)?;
        if now.duration_since(p.since) >= EXPECTATION_TTL {
            pending.remove(rollout);
            return None;
        }
        let unmet = p.unmet(seen);
        if unmet.is_none() {
            pending.remove(rollout);
        }
        unmet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj<'a>(kind: &'a str, uid: &'a str, name: &'a str, rv: &'a str) -> SeenObject<'a> {
        SeenObject { kind, uid, name, resource_version: rv, terminating: false }
    }

    #[test]
    fn a_pass_is_early_until_it_sees_every_write() {
        let e = Expectations::default();
        let old =
            Seen { objects: vec![obj("Rollout", "r", "app", "10"), obj("ReplicaSet", "s", "app-1", "11")] };
        assert_eq!(e.unmet("r", &old), None, "nothing written, nothing to wait for");

        e.superseded("r", "r", "10");
        e.created("r", "ReplicaSet", "app-2");
        assert_eq!(e.unmet("r", &old).as_deref(), Some("Rollout app at a resourceVersion since replaced"));
        let rollout_seen =
            Seen { objects: vec![obj("Rollout", "r", "app", "12"), obj("ReplicaSet", "s", "app-1", "11")] };
        assert_eq!(e.unmet("r", &rollout_seen).as_deref(), Some("no ReplicaSet app-2, since created"));
        let mut all = rollout_seen.clone();
        all.objects.push(obj("ReplicaSet", "t", "app-2", "13"));
        assert_eq!(e.unmet("r", &all), None);
        // Met once, the record is gone: the old view no longer waits.
        assert_eq!(e.unmet("r", &old), None);
    }

    #[test]
    fn a_deleted_object_is_seen_gone_or_terminating() {
        let e = Expectations::default();
        e.deleted("r", "s");
        let still = Seen { objects: vec![obj("ReplicaSet", "s", "app-1", "11")] };
        assert_eq!(e.unmet("r", &still).as_deref(), Some("ReplicaSet app-1 since deleted"));
        let mut terminating = still.clone();
        terminating.objects[0].terminating = true;
        assert_eq!(e.unmet("r", &terminating), None);
    }

    #[test]
    fn rollouts_are_kept_apart_and_records_expire() {
        let e = Expectations::default();
        e.superseded("r", "r", "10");
        let other = Seen { objects: vec![obj("Rollout", "q", "other", "10")] };
        assert_eq!(e.unmet("q", &other), None);
        let old = Seen { objects: vec![obj("Rollout", "r", "app", "10")] };
        assert!(e.unmet("r", &old).is_some());
        let later = Instant::now() + EXPECTATION_TTL;
        assert_eq!(e.unmet_at("r", &old, later), None, "a lost event delays, never stops");
    }

    #[test]
    fn empty_identities_are_not_recorded() {
        let e = Expectations::default();
        e.superseded("r", "", "10");
        e.superseded("r", "u", "");
        e.deleted("r", "");
        assert_eq!(e.unmet("r", &Seen::default()), None);
    }
}
