//! Reads: lists (label and field selectors, limits with continue tokens, `resourceVersion` semantics) from the
//! live objects or from a snapshot rebuilt out of the event history.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{EventType, Key, ListOptions, ListResult, State};
use crate::cluster::object;
use crate::cluster::registry::{GroupResource, ResourceType};
use crate::cluster::status::{ApiError, ApiResult, Cause};

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

fn encode_continue(rv: u64, key: &Key) -> String {
    hex_encode(&json!({"v": "meta.k8s.io/v1", "rv": rv, "start": [key.0, key.1]}).to_string())
}

fn decode_continue(token: &str) -> Option<(u64, Key)> {
    let v: Value = serde_json::from_str(&hex_decode(token)?).ok()?;
    let rv = v.get("rv")?.as_u64()?;
    let start = v.get("start")?.as_array()?;
    Some((rv, (start.first()?.as_str()?.to_string(), start.get(1)?.as_str()?.to_string())))
}

fn parse_rv(s: &str) -> ApiResult<u64> {
    s.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
}

impl State {
    /// The objects of one resource as of `rv`, rebuilt by undoing newer events from the history.
    /// The live objects are borrowed, not copied: a list of a few objects among many costs only those.
    pub(super) fn snapshot(
        &self,
        gr: &GroupResource,
        rv: u64,
    ) -> ApiResult<Cow<'_, BTreeMap<Key, Arc<Value>>>> {
        static EMPTY: BTreeMap<Key, Arc<Value>> = BTreeMap::new();
        let live = self.objects.get(gr).unwrap_or(&EMPTY);
        if rv >= self.rv {
            return Ok(Cow::Borrowed(live));
        }
        if rv < self.compacted {
            return Err(ApiError::too_old(rv, self.compacted));
        }
        let mut map = live.clone();
        let start = self.history.partition_point(|e| e.rv <= rv);
        for e in self.history.iter().skip(start).rev().filter(|e| &e.gr == gr) {
            let key = (object::namespace(&e.object).to_string(), object::name(&e.object).to_string());
            match (&e.kind, &e.old) {
                (EventType::Added, _) => {
                    map.remove(&key);
                }
                (_, Some(old)) => {
                    map.insert(key, old.clone());
                }
                (_, None) => {}
            }
        }
        Ok(Cow::Owned(map))
    }

    pub(super) fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListResult> {
        let gr = rt.gr();
        let rv_param = opts.resource_version.as_deref().unwrap_or("");
        let continuing = opts.continue_token.as_deref().is_some_and(|t| !t.is_empty());
        let forbidden = match opts.resource_version_match.as_deref().filter(|m| !m.is_empty()) {
            Some(_) if rv_param.is_empty() => {
                Some("resourceVersionMatch is forbidden unless resourceVersion is provided")
            }
            Some("Exact") if rv_param == "0" => {
                Some("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
            }
            Some(_) if continuing => Some("resourceVersionMatch is forbidden when continue is provided"),
            _ => None,
        };
        if let Some(why) = forbidden {
            return Err(ApiError::invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                vec![Cause::forbidden("resourceVersionMatch", why)],
            ));
        }
        let (snapshot_rv, start_after) = if let Some(token) =
            opts.continue_token.as_deref().filter(|t| !t.is_empty())
        {
            let (rv, key) = decode_continue(token).ok_or_else(|| {
                ApiError::bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
                )
            })?;
            if !rv_param.is_empty() && rv_param != "0" {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            if rv < self.compacted {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            (rv, Some(key))
        } else if rv_param.is_empty() || rv_param == "0" {
            (self.rv, None)
        } else {
            let want = parse_rv(rv_param)?;
            if want > self.rv {
                return Err(ApiError::too_large_rv(want, self.rv));
            }
            match opts.resource_version_match.as_deref() {
                Some("Exact") => (want, None),
                Some("NotOlderThan") | Some("") | None => (self.rv, None),
                Some(other) => {
                    return Err(ApiError::invalid(
                        "ListOptions",
                        "meta.k8s.io",
                        "",
                        vec![Cause {
                            reason: "FieldValueNotSupported",
                            message: format!(
                                "Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                            ),
                            field: "resourceVersionMatch".into(),
                        }],
                    ));
                }
            }
        };
        let map = self.snapshot(&gr, snapshot_rv)?;
        let ns = if rt.namespaced { ns.filter(|n| !n.is_empty()) } else { None };
        // Keys sort by namespace, then name: a namespace's objects are one range of the map.
        let from = match (&start_after, ns) {
            (Some(s), Some(n)) if s.0.as_str() < n => Bound::Included((n.to_string(), String::new())),
            (Some(s), _) => Bound::Excluded(s.clone()),
            (None, Some(n)) => Bound::Included((n.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let matching = map
            .range((from, Bound::Unbounded))
            .take_while(|(k, _)| ns.is_none_or(|n| k.0 == n))
            .filter(|(_, o)| opts.labels.matches_object(o) && opts.fields.matches(o));
        let mut items = Vec::new();
        let mut last_key = None;
        let mut rest = 0usize;
        for (k, o) in matching {
            if opts.limit.is_some_and(|l| l > 0 && items.len() >= l) {
                rest += 1;
                continue;
            }
            items.push(o.clone());
            last_key = Some(k.clone());
        }
        let continue_token = match (rest > 0, last_key) {
            (true, Some(k)) => Some(encode_continue(snapshot_rv, &k)),
            _ => None,
        };
        let remaining =
            (continue_token.is_some() && opts.labels.is_empty() && opts.fields.is_empty()).then_some(rest);
        Ok(ListResult { items, resource_version: snapshot_rv, continue_token, remaining })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, &("ns".into(), "a/b".into()));
        assert_eq!(decode_continue(&t), Some((42, ("ns".into(), "a/b".into()))));
        assert_eq!(decode_continue("zz"), None);
    }
}
