//! Lookups that deletion and garbage collection need, kept in step with the objects: where each uid lives,
//! which objects name a uid as an owner, and how many objects each namespace holds. Without them, every
//! deletion scanned the whole store (a namespace of 10,000 objects took 26 s to delete, with every other
//! request waiting).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::Key;
use crate::cluster::object;
use crate::cluster::registry::GroupResource;

pub(super) type Place = (GroupResource, Key);

#[derive(Debug, Default, PartialEq)]
pub(super) struct Index {
    by_uid: HashMap<String, Place>,
    dependents: HashMap<String, BTreeSet<Place>>,
    in_namespace: HashMap<String, usize>,
}

impl Index {
    /// `obj` is now stored at `place` (`previous` was there before, if anything).
    pub(super) fn stored(&mut self, place: &Place, previous: Option<&Value>, obj: &Value) {
        match previous {
            Some(p) => self.unlink(place, p),
            None if !place.1.0.is_empty() => *self.in_namespace.entry(place.1.0.clone()).or_default() += 1,
            None => {}
        }
        self.link(place, obj);
    }

    /// `obj`, stored at `place`, is gone.
    pub(super) fn removed(&mut self, place: &Place, obj: &Value) {
        self.unlink(place, obj);
        let ns = &place.1.0;
        if !ns.is_empty()
            && let Some(n) = self.in_namespace.get_mut(ns)
        {
            *n -= 1;
            if *n == 0 {
                self.in_namespace.remove(ns);
            }
        }
    }

    fn link(&mut self, place: &Place, obj: &Value) {
        let uid = object::uid(obj);
        // An Event is stored at both its versions under one uid; its v1 copy is the one indexed.
        let second_copy = place.0.group == "events.k8s.io" && place.0.resource == "events";
        if second_copy {
            return;
        }
        if !uid.is_empty() {
            self.by_uid.insert(uid.to_string(), place.clone());
        }
        for owner in object::owner_uids(obj) {
            self.dependents.entry(owner).or_default().insert(place.clone());
        }
    }

    fn unlink(&mut self, place: &Place, obj: &Value) {
        let uid = object::uid(obj);
        if self.by_uid.get(uid) == Some(place) {
            self.by_uid.remove(uid);
        }
        for owner in object::owner_uids(obj) {
            if let Some(set) = self.dependents.get_mut(&owner) {
                set.remove(place);
                if set.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
    }

    /// Where the object with this uid is stored.
    pub(super) fn place_of(&self, uid: &str) -> Option<&Place> {
        self.by_uid.get(uid)
    }

    /// The objects that name `owner` among their owners.
    pub(super) fn dependents_of(&self, owner: &str) -> Vec<Place> {
        self.dependents.get(owner).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether anything is stored in namespace `ns`.
    pub(super) fn namespace_holds_anything(&self, ns: &str) -> bool {
        self.in_namespace.get(ns).is_some_and(|n| *n > 0)
    }
}

#[cfg(test)]
impl Index {
    /// The index of `objects` built from scratch, to compare with the one kept in step.
    pub(super) fn rebuilt(
        objects: &HashMap<GroupResource, std::collections::BTreeMap<Key, std::sync::Arc<Value>>>,
    ) -> Index {
        let mut index = Index::default();
        for (gr, map) in objects {
            for (key, obj) in map {
                index.stored(&(gr.clone(), key.clone()), None, obj);
            }
        }
        index
    }
}
