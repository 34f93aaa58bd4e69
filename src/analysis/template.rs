//! AnalysisTemplates and ClusterAnalysisTemplates into one AnalysisRun spec: templates referencing templates are
//! followed, metrics concatenated, arguments merged with the values the caller supplies (upstream's
//! `NewAnalysisRunFromTemplates`, `FlattenTemplates` and `MergeArgs`).

use crate::api::analysis::{AnalysisRunSpec, AnalysisTemplateSpec};
use crate::api::common::{Argument, DryRun, MeasurementRetention};
use std::collections::BTreeSet;
use std::fmt;

/// A reference to a template: namespaced (`AnalysisTemplate`) or cluster-scoped (`ClusterAnalysisTemplate`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TemplateRef {
    pub name: String,
    pub cluster_scope: bool,
}

impl fmt::Display for TemplateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.cluster_scope { "ClusterAnalysisTemplate" } else { "AnalysisTemplate" };
        write!(f, "{kind} {:?}", self.name)
    }
}

/// Where templates are looked up: the cluster, or the files given to `serin analyze`.
pub trait TemplateSource {
    fn template(
        &self,
        r: &TemplateRef,
    ) -> impl std::future::Future<Output = Result<AnalysisTemplateSpec, String>> + Send;
}

/// Templates read from the cluster: AnalysisTemplates in one namespace, ClusterAnalysisTemplates.
pub struct ClusterTemplates {
    pub client: kube::Client,
    pub namespace: String,
}

impl TemplateSource for ClusterTemplates {
    async fn template(&self, r: &TemplateRef) -> Result<AnalysisTemplateSpec, String> {
        let missing = |e: kube::Error| match e {
            kube::Error::Api(s) if s.code == 404 => format!("{r} not found"),
            other => format!("cannot read {r}: {other}"),
        };
        if r.cluster_scope {
            let api: kube::Api<crate::api::analysis::ClusterAnalysisTemplate> =
                kube::Api::all(self.client.clone());
            api.get(&r.name).await.map(|t| t.spec.0).map_err(missing)
        } else {
            let api: kube::Api<crate::api::analysis::AnalysisTemplate> =
                kube::Api::namespaced(self.client.clone(), &self.namespace);
            api.get(&r.name).await.map(|t| t.spec).map_err(missing)
        }
    }
}

/// Deepest chain of templates referencing templates that is followed.
const MAX_DEPTH: usize = 10;

/// Loads `roots` and every template they reference, depth first, each before the ones it references; then, as
/// upstream's `FlattenTemplates` orders them, all AnalysisTemplates before all ClusterAnalysisTemplates. A
/// template reached twice is included once (upstream would include it twice and then fail on its duplicate
/// metric names); one that references itself, directly or through others, is refused with the cycle named
/// (upstream would recurse without end).
pub async fn flatten(
    source: &impl TemplateSource,
    roots: &[TemplateRef],
) -> Result<Vec<AnalysisTemplateSpec>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut cluster = Vec::new();
    // Each entry carries the references that led to it.
    let mut stack: Vec<(TemplateRef, Vec<TemplateRef>)> =
        roots.iter().rev().map(|r| (r.clone(), Vec::new())).collect();
    while let Some((r, path)) = stack.pop() {
        if let Some(start) = path.iter().position(|p| *p == r) {
            let cycle: Vec<String> = path[start..].iter().chain([&r]).map(ToString::to_string).collect();
            return Err(format!("templates reference each other in a cycle: {}", cycle.join(" → ")));
        }
        if path.len() > MAX_DEPTH {
            return Err(format!("templates nest deeper than {MAX_DEPTH} levels at {r}"));
        }
        if !seen.insert(r.clone()) {
            continue;
        }
        let spec = source.template(&r).await?;
        let mut below = path.clone();
        below.push(r.clone());
        for child in spec.templates.iter().flatten().rev() {
            let name = child.template_name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(format!("{r} references a template without a templateName"));
            }
            let child = TemplateRef { name, cluster_scope: child.cluster_scope.unwrap_or(false) };
            stack.push((child, below.clone()));
        }
        if r.cluster_scope { cluster.push(spec) } else { out.push(spec) }
    }
    out.extend(cluster);
    Ok(out)
}

/// The dry-run and retention rules of whoever starts the run (a Rollout, an Experiment) put before the
/// templates' own.
pub fn add_rules(
    spec: &mut AnalysisRunSpec,
    dry_run: Option<&[DryRun]>,
    retention: Option<&[MeasurementRetention]>,
) {
    if let Some(rules) = dry_run {
        let mut merged = rules.to_vec();
        merged.extend(spec.dry_run.take().unwrap_or_default());
        spec.dry_run = Some(merged);
    }
    if let Some(rules) = retention {
        let mut merged = rules.to_vec();
        merged.extend(spec.measurement_retention.take().unwrap_or_default());
        spec.measurement_retention = Some(merged);
    }
}

/// Merges templates into a run spec, with `supplied` argument values taking precedence over the templates'.
/// Supplied arguments that no template declares are ignored (see [`undeclared`] to warn about them).
pub fn merge(templates: &[AnalysisTemplateSpec], supplied: &[Argument]) -> Result<AnalysisRunSpec, String> {
    let mut spec = AnalysisRunSpec::default();
    let mut names = BTreeSet::new();
    let mut args: Vec<Argument> = Vec::new();
    for t in templates {
        for metric in t.metrics.iter().flatten() {
            if !names.insert(metric.name.clone()) {
                return Err(format!("two metrics have the same name '{}'", metric.name));
            }
            spec.metrics.push(metric.clone());
        }
        for arg in t.args.iter().flatten() {
            match args.iter_mut().find(|a| a.name == arg.name) {
                None => args.push(arg.clone()),
                Some(existing) => match (&existing.value, &arg.value) {
                    (Some(before), Some(now)) if before != now => {
                        return Err(format!(
                            "Argument `{}` specified multiple times with different values: '{before}', '{now}'",
                            arg.name
                        ));
                    }
                    // Upstream's flattenArgs: a later declaration replaces an earlier one that has no value.
                    (None, _) => *existing = arg.clone(),
                    (Some(_), _) => {}
                },
            }
        }
        for rule in t.dry_run.iter().flatten() {
            let rules = spec.dry_run.get_or_insert_with(Vec::new);
            if rules.iter().any(|r| r.metric_name == rule.metric_name) {
                return Err(format!("two Dry-Run metric rules have the same name '{}'", rule.metric_name));
            }
            rules.push(rule.clone());
        }
        for rule in t.measurement_retention.iter().flatten() {
            let rules = spec.measurement_retention.get_or_insert_with(Vec::new);
            if rules.iter().any(|r| r.metric_name == rule.metric_name) {
                return Err(format!(
                    "two Measurement Retention metric rules have the same name '{}'",
                    rule.metric_name
                ));
            }
            rules.push(rule.clone());
        }
    }
    for arg in &mut args {
        if let Some(given) = supplied.iter().find(|s| s.name == arg.name)
            && (given.value.is_some() || given.value_from.is_some())
        {
            arg.value = given.value.clone();
            arg.value_from = given.value_from.clone();
        }
        if arg.value.is_none() && arg.value_from.is_none() {
            return Err(format!("args.{} was not resolved", arg.name));
        }
    }
    // Supplied arguments no template declares are ignored, as upstream's MergeArgs does.
    spec.args = (!args.is_empty()).then_some(args);
    Ok(spec)
}

/// The supplied arguments that none of `templates` declares.
pub fn undeclared<'a>(templates: &[AnalysisTemplateSpec], supplied: &'a [Argument]) -> Vec<&'a str> {
    supplied
        .iter()
        .filter(|s| !templates.iter().flat_map(|t| t.args.iter().flatten()).any(|a| a.name == s.name))
        .map(|s| s.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::analysis::AnalysisTemplateRef;
    use crate::api::fixtures::prometheus_metric;
    use std::collections::BTreeMap;

    struct Files(BTreeMap<TemplateRef, AnalysisTemplateSpec>);

    impl TemplateSource for Files {
        async fn template(&self, r: &TemplateRef) -> Result<AnalysisTemplateSpec, String> {
            self.0.get(r).cloned().ok_or_else(|| format!("{r} not found"))
        }
    }

    fn template(
        metrics: &[&str],
        args: &[(&str, Option<&str>)],
        refs: &[(&str, bool)],
    ) -> AnalysisTemplateSpec {
        AnalysisTemplateSpec {
            metrics: Some(metrics.iter().map(|m| prometheus_metric(m)).collect()),
            args: Some(
                args.iter()
                    .map(|(n, v)| Argument {
                        name: n.to_string(),
                        value: v.map(str::to_string),
                        value_from: None,
                    })
                    .collect(),
            ),
            templates: (!refs.is_empty()).then(|| {
                refs.iter()
                    .map(|(n, c)| AnalysisTemplateRef {
                        template_name: Some(n.to_string()),
                        cluster_scope: Some(*c),
                    })
                    .collect()
            }),
            ..AnalysisTemplateSpec::default()
        }
    }

    fn named(name: &str, cluster: bool) -> TemplateRef {
        TemplateRef { name: name.into(), cluster_scope: cluster }
    }

    #[tokio::test]
    async fn nested_templates_are_flattened_once_each() {
        let files = Files(BTreeMap::from([
            (named("root", false), template(&["a"], &[("svc", None)], &[("shared", true), ("leaf", false)])),
            (named("shared", true), template(&["b"], &[], &[("leaf", false)])),
            (named("leaf", false), template(&["c"], &[("svc", Some("default-svc"))], &[])),
        ]));
        let flat = flatten(&files, &[named("root", false)]).await.expect("flatten");
        let spec =
            merge(&flat, &[Argument { name: "svc".into(), value: Some("web".into()), value_from: None }])
                .expect("merge");
        let metrics: Vec<&str> = spec.metrics.iter().map(|m| m.name.as_str()).collect();
        // AnalysisTemplates first (root, then leaf it reaches through shared), ClusterAnalysisTemplates after.
        assert_eq!(metrics, ["a", "c", "b"]);
        assert_eq!(spec.args.expect("args")[0].value.as_deref(), Some("web"));
        assert_eq!(
            flatten(&files, &[named("missing", true)]).await.unwrap_err(),
            "ClusterAnalysisTemplate \"missing\" not found"
        );
    }

    #[tokio::test]
    async fn a_cycle_of_references_is_refused_with_the_cycle_named() {
        let files = Files(BTreeMap::from([
            (named("root", false), template(&["a"], &[], &[("b", false)])),
            (named("b", false), template(&[], &[], &[("c", true)])),
            (named("c", true), template(&[], &[], &[("b", false)])),
            (named("self", false), template(&[], &[], &[("self", false)])),
            // A diamond is not a cycle: d is reached twice and included once.
            (named("top", false), template(&[], &[], &[("left", false), ("right", false)])),
            (named("left", false), template(&["l"], &[], &[("d", false)])),
            (named("right", false), template(&["r"], &[], &[("d", false)])),
            (named("d", false), template(&["d"], &[], &[])),
        ]));
        assert_eq!(
            flatten(&files, &[named("root", false)]).await.unwrap_err(),
            "templates reference each other in a cycle: AnalysisTemplate \"b\" → ClusterAnalysisTemplate \"c\" → AnalysisTemplate \"b\""
        );
        assert_eq!(
            flatten(&files, &[named("self", false)]).await.unwrap_err(),
            "templates reference each other in a cycle: AnalysisTemplate \"self\" → AnalysisTemplate \"self\""
        );
        let flat = flatten(&files, &[named("top", false)]).await.expect("a diamond flattens");
        let spec = merge(&flat, &[]).expect("merge");
        let metrics: Vec<&str> = spec.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(metrics, ["l", "d", "r"]);
    }

    #[test]
    fn merging_refuses_duplicate_metrics_and_unresolved_arguments() {
        let a = template(&["m"], &[], &[]);
        assert_eq!(merge(&[a.clone(), a], &[]).unwrap_err(), "two metrics have the same name 'm'");
        let needs = template(&["m"], &[("x", None)], &[]);
        assert_eq!(merge(std::slice::from_ref(&needs), &[]).unwrap_err(), "args.x was not resolved");
        let declared = template(&["a"], &[("x", None)], &[]);
        let valued = template(&["b"], &[("x", Some("5"))], &[]);
        let spec = merge(&[declared, valued], &[]).expect("the later template gives x its value");
        assert_eq!(spec.args.expect("args")[0].value.as_deref(), Some("5"));
        let given = [Argument { name: "y".into(), value: Some("1".into()), value_from: None }];
        let plain = [template(&["m"], &[], &[])];
        assert_eq!(merge(&plain, &given).expect("an extra argument is ignored").args, None);
        assert_eq!(undeclared(&plain, &given), ["y"]);
        let five = template(&["a"], &[("x", Some("5"))], &[]);
        let six = template(&["b"], &[("x", Some("6"))], &[]);
        assert_eq!(
            merge(&[five, six], &[]).unwrap_err(),
            "Argument `x` specified multiple times with different values: '5', '6'"
        );
        let mut dry = template(&["a"], &[], &[]);
        dry.dry_run = Some(vec![crate::api::common::DryRun { metric_name: "a".into() }]);
        let mut dry2 = template(&["b"], &[], &[]);
        dry2.dry_run = dry.dry_run.clone();
        assert_eq!(merge(&[dry, dry2], &[]).unwrap_err(), "two Dry-Run metric rules have the same name 'a'");
    }
}
