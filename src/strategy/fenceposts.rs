//! maxSurge and maxUnavailable resolved against `spec.replicas` as upstream does (`utils/replicaset`
//! `resolveFenceposts`, `MaxSurge`, `MaxUnavailable`; argo-semantics §a.1).

use crate::api::defaults::{self, resolve_int_or_percent};
use crate::api::rollout::Rollout;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `resolveFenceposts`: surge rounds up, unavailability down; when both come to zero, one pod may be
/// unavailable (validation rejects a configured 0/0, rounding can still produce it). A value that does not parse
/// resolves to (0, 0), which upstream's callers then use as is.
pub fn resolve(max_surge: &IntOrString, max_unavailable: &IntOrString, desired: i32) -> (i32, i32) {
    let (Ok(surge), Ok(mut unavailable)) = (
        resolve_int_or_percent(max_surge, desired, true),
        resolve_int_or_percent(max_unavailable, desired, false),
    ) else {
        return (0, 0);
    };
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// `MaxSurge`: the surge of a canary; blue-green never surges.
pub fn max_surge(rollout: &Rollout) -> i32 {
    if rollout.canary().is_none() {
        return 0;
    }
    let replicas = defaults::replicas(rollout);
    resolve(&defaults::max_surge(rollout), &defaults::max_unavailable(rollout), replicas).0
}

/// `MaxUnavailable`: pods that may be unavailable during an update, capped at `spec.replicas`.
pub fn max_unavailable(rollout: &Rollout) -> i32 {
    let replicas = defaults::replicas(rollout);
    if replicas == 0 {
        return 0;
    }
    let unavailable = if rollout.canary().is_some() {
        resolve(&defaults::max_surge(rollout), &defaults::max_unavailable(rollout), replicas).1
    } else {
        // Blue-green has no surge, so there is no 0/0 rule.
        resolve_int_or_percent(&defaults::max_unavailable(rollout), replicas, false).unwrap_or(0)
    };
    unavailable.min(replicas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntOrString::{Int, String as Str};

    fn s(v: &str) -> IntOrString {
        Str(v.into())
    }

    #[test]
    fn fenceposts_resolve_like_upstream() {
        // (maxSurge, maxUnavailable, replicas) -> (surge, unavailable)
        let cases = [
            (s("25"), s("25"), 10, (3, 2)),
            (s("25%"), s("25%"), 4, (1, 1)),
            (s("25"), s("25"), 1, (1, 0)),
            (Int(0), s("1%"), 2, (0, 1)),
            (s("1%"), s("1%"), 1, (1, 0)),
            (Int(0), Int(0), 5, (0, 1)),
            (s("5"), Int(0), 10, (1, 0)),
            (Int(3), Int(2), 10, (3, 2)),
            (s("100%"), s("100%"), 3, (3, 3)),
            (s("bad"), Int(1), 3, (0, 0)),
        ];
        for (surge, unavailable, replicas, expected) in cases {
            assert_eq!(
                resolve(&surge, &unavailable, replicas),
                expected,
                "{surge:?} {unavailable:?} {replicas}"
            );
        }
    }

    #[test]
    fn max_unavailable_is_capped_and_zero_without_replicas() {
        let mut ro = Rollout::canary_fixture("r");
        ro.spec.replicas = Some(2);
        let canary = ro.spec.strategy.as_mut().and_then(|s| s.canary.as_mut()).expect("canary");
        canary.max_unavailable = Some(Int(5));
        canary.max_surge = Some(Int(0));
        assert_eq!(max_unavailable(&ro), 2);
        ro.spec.replicas = Some(0);
        assert_eq!(max_unavailable(&ro), 0);
    }
}
