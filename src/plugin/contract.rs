//! The plugin contract's versions, side by side. Each version has its own WIT directory (`wit/<version>`) and
//! its own module here, which holds that version's generated bindings, implements its host imports, and converts
//! its exports into the host-side types of `metric`, `condition`, `router` and `step`: nothing outside this
//! module sees a generated binding type, so supporting a third version is one new module and one new line in
//! [`SUPPORTED`]. A released version is frozen (`tests/plugins/contract.rs` holds the digest of each).
//!
//! A world is the whole sandbox: each (kind, version) pair gets its own linker holding exactly what that world
//! imports, and a component importing anything else is refused when it is loaded, naming the import.

pub mod v0_1_0;
pub mod v0_2_0;

use super::component::PluginKind;
use super::state::CallState;
use anyhow::Context as _;
use std::fmt;
use wasmtime::Engine;
use wasmtime::component::Linker;

/// A version of the `serin:plugin` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    V0_1_0,
    V0_2_0,
}

/// Every version this host loads plugins for, oldest first.
pub const SUPPORTED: &[Version] = &[Version::V0_1_0, Version::V0_2_0];

/// The version new plugins (and the built-ins) are built against.
pub const CURRENT: Version = Version::V0_2_0;

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1_0 => "0.1.0",
            Version::V0_2_0 => "0.2.0",
        }
    }

    pub fn parse(s: &str) -> Option<Version> {
        SUPPORTED.iter().copied().find(|v| v.as_str() == s)
    }

    /// The plugin kinds this version has a world for.
    pub fn kinds(self) -> &'static [PluginKind] {
        match self {
            Version::V0_1_0 => {
                &[PluginKind::MetricProvider, PluginKind::ConditionEvaluator, PluginKind::TrafficRouter]
            }
            Version::V0_2_0 => &[
                PluginKind::MetricProvider,
                PluginKind::ConditionEvaluator,
                PluginKind::TrafficRouter,
                PluginKind::StepPlugin,
            ],
        }
    }

    /// `serin:plugin@0.1.0, serin:plugin@0.2.0`.
    pub fn supported_list() -> String {
        SUPPORTED.iter().map(|v| format!("serin:plugin@{v}")).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The WASI packages behind `wasi:cli/imports`, which every world includes (0.1.0's worlds do not declare them,
/// but every toolchain's output imports some of them, so the host has always offered them).
const WASI_BASICS: &[&str] =
    &["wasi:cli/", "wasi:clocks/", "wasi:filesystem/", "wasi:io/", "wasi:random/", "wasi:sockets/"];

/// What one world lets a plugin import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct World {
    pub kind: PluginKind,
    pub version: Version,
}

impl World {
    /// The world of `kind` in `version`, if that version has one.
    pub fn of(kind: PluginKind, version: Version) -> Option<World> {
        version.kinds().contains(&kind).then_some(World { kind, version })
    }

    /// `serin:plugin/metric-provider-plugin@0.2.0`.
    pub fn name(self) -> String {
        let world = match self.kind {
            PluginKind::MetricProvider => "metric-provider-plugin",
            PluginKind::ConditionEvaluator => "condition-evaluator-plugin",
            PluginKind::TrafficRouter => "traffic-router-plugin",
            PluginKind::StepPlugin => "step-plugin",
        };
        format!("serin:plugin/{world}@{}", self.version)
    }

    /// The `serin:plugin` interfaces the world imports.
    pub fn serin_imports(self) -> &'static [&'static str] {
        match self.kind {
            PluginKind::MetricProvider => &["types", "log", "prometheus", "kubernetes"],
            PluginKind::ConditionEvaluator => &["types", "log"],
            PluginKind::TrafficRouter | PluginKind::StepPlugin => &["types", "log", "kubernetes"],
        }
    }

    /// Whether the world may make outbound HTTP requests (`wasi:http/outgoing-handler`).
    pub fn http(self) -> bool {
        self.kind != PluginKind::ConditionEvaluator
    }

    /// Whether a component of this world may import `import` (a name such as `wasi:io/streams@0.2.4`).
    pub fn allows(self, import: &str) -> bool {
        let Some((name, version)) = import.split_once('@') else { return false };
        if let Some(iface) = name.strip_prefix("serin:plugin/") {
            return version == self.version.as_str() && self.serin_imports().contains(&iface);
        }
        // WASI 0.2.x: the component model links any 0.2 release against the host's.
        let wasi_02 = version.split('.').take(2).eq(["0", "2"]);
        if !wasi_02 {
            return false;
        }
        WASI_BASICS.iter().any(|p| name.starts_with(p))
            || (self.http() && (name == "wasi:http/outgoing-handler" || name == "wasi:http/types"))
    }

    /// What the world offers, in words, for error messages and `serin plugin inspect`.
    pub fn offers(self) -> String {
        let mut parts = vec!["wasi:cli/imports (no files, environment or sockets behind it)".to_string()];
        if self.http() {
            parts.push("wasi:http/outgoing-handler".into());
        }
        parts.extend(self.serin_imports().iter().map(|i| format!("serin:plugin/{i}@{}", self.version)));
        parts.join(", ")
    }

    /// A linker holding exactly this world's imports.
    pub(crate) fn linker(self, engine: &Engine) -> anyhow::Result<Linker<CallState>> {
        let mut linker: Linker<CallState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        if self.http() {
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
                .map_err(anyhow::Error::from)
                .context("linking wasi:http")?;
        }
        match self.version {
            Version::V0_1_0 => v0_1_0::add_serin_imports(&mut linker, self),
            Version::V0_2_0 => v0_2_0::add_serin_imports(&mut linker, self),
        }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("linking the imports of {}", self.name()))?;
        Ok(linker)
    }
}

/// The pre-linked form of a plugin, by kind and contract version.
#[derive(Clone)]
pub(crate) enum Pre {
    Metric01(v0_1_0::metric::MetricProviderPluginPre<CallState>),
    Metric02(v0_2_0::metric::MetricProviderPluginPre<CallState>),
    Condition01(v0_1_0::condition::ConditionEvaluatorPluginPre<CallState>),
    Condition02(v0_2_0::condition::ConditionEvaluatorPluginPre<CallState>),
    Router01(v0_1_0::router::TrafficRouterPluginPre<CallState>),
    Router02(v0_2_0::router::TrafficRouterPluginPre<CallState>),
    Step02(v0_2_0::step::StepPluginPre<CallState>),
}

impl Pre {
    /// Checks the component's exports against its world and pre-links it.
    pub(crate) fn new(
        world: World,
        instance_pre: wasmtime::component::InstancePre<CallState>,
    ) -> wasmtime::Result<Pre> {
        use PluginKind as K;
        Ok(match (world.version, world.kind) {
            (Version::V0_1_0, K::MetricProvider) => {
                Pre::Metric01(v0_1_0::metric::MetricProviderPluginPre::new(instance_pre)?)
            }
            (Version::V0_2_0, K::MetricProvider) => {
                Pre::Metric02(v0_2_0::metric::MetricProviderPluginPre::new(instance_pre)?)
            }
            (Version::V0_1_0, K::ConditionEvaluator) => {
                Pre::Condition01(v0_1_0::condition::ConditionEvaluatorPluginPre::new(instance_pre)?)
            }
            (Version::V0_2_0, K::ConditionEvaluator) => {
                Pre::Condition02(v0_2_0::condition::ConditionEvaluatorPluginPre::new(instance_pre)?)
            }
            (Version::V0_1_0, K::TrafficRouter) => {
                Pre::Router01(v0_1_0::router::TrafficRouterPluginPre::new(instance_pre)?)
            }
            (Version::V0_2_0, K::TrafficRouter) => {
                Pre::Router02(v0_2_0::router::TrafficRouterPluginPre::new(instance_pre)?)
            }
            (Version::V0_2_0, K::StepPlugin) => Pre::Step02(v0_2_0::step::StepPluginPre::new(instance_pre)?),
            (Version::V0_1_0, K::StepPlugin) => {
                wasmtime::bail!("serin:plugin@0.1.0 has no step plugins")
            }
        })
    }
}

/// Implements a version's `log` and `prometheus` host imports (identical in every version so far) by
/// delegating to the host's own implementation in `host.rs`, converting the generated types.
macro_rules! log_and_prometheus_imports {
    ($bindings:path) => {
        use $bindings as gen_root;
        impl gen_root::types::Host for $crate::plugin::state::CallState {}

        impl gen_root::log::Host for $crate::plugin::state::CallState {
            fn log(&mut self, level: gen_root::log::Level, message: String) {
                use $crate::plugin::host::LogLevel as L;
                let level = match level {
                    gen_root::log::Level::Trace => L::Trace,
                    gen_root::log::Level::Debug => L::Debug,
                    gen_root::log::Level::Info => L::Info,
                    gen_root::log::Level::Warn => L::Warn,
                    gen_root::log::Level::Error => L::Error,
                };
                self.plugin_log(level, message);
            }
        }

        impl gen_root::prometheus::Host for $crate::plugin::state::CallState {
            async fn query(
                &mut self,
                endpoint: gen_root::prometheus::Endpoint,
                query: String,
                time: Option<gen_root::types::Timestamp>,
            ) -> Result<gen_root::prometheus::QueryResult, gen_root::prometheus::QueryError> {
                let time = time
                    .map(|t| $crate::plugin::host::Time { seconds: t.seconds, nanoseconds: t.nanoseconds });
                prometheus_reply(self.prometheus_query(prometheus_endpoint(endpoint), query, time).await)
            }

            async fn query_range(
                &mut self,
                endpoint: gen_root::prometheus::Endpoint,
                query: String,
                start: gen_root::types::Timestamp,
                end: gen_root::types::Timestamp,
                step_seconds: f64,
            ) -> Result<gen_root::prometheus::QueryResult, gen_root::prometheus::QueryError> {
                let t = |t: gen_root::types::Timestamp| $crate::plugin::host::Time {
                    seconds: t.seconds,
                    nanoseconds: t.nanoseconds,
                };
                let out = self
                    .prometheus_query_range(
                        prometheus_endpoint(endpoint),
                        query,
                        t(start),
                        t(end),
                        step_seconds,
                    )
                    .await;
                prometheus_reply(out)
            }
        }

        fn prometheus_endpoint(e: gen_root::prometheus::Endpoint) -> $crate::plugin::host::PromEndpoint {
            $crate::plugin::host::PromEndpoint {
                address: e.address,
                headers: e.headers,
                timeout_seconds: e.timeout_seconds,
                insecure: e.insecure,
            }
        }

        fn prometheus_reply(
            out: Result<$crate::plugin::host::PromResult, $crate::plugin::host::PromError>,
        ) -> Result<gen_root::prometheus::QueryResult, gen_root::prometheus::QueryError> {
            use gen_root::prometheus as p;
            use $crate::plugin::host::{PromData as D, PromError as E};
            let sample = |s: $crate::plugin::host::PromSample| p::Sample {
                labels: s.labels,
                time: s.time,
                value: s.value,
            };
            match out {
                Ok(r) => Ok(p::QueryResult {
                    data: match r.data {
                        D::Scalar(s) => p::Data::Scalar(sample(s)),
                        D::Vector(v) => p::Data::Vector(v.into_iter().map(sample).collect()),
                        D::Matrix(m) => p::Data::Matrix(
                            m.into_iter()
                                .map(|s| p::Series { labels: s.labels, samples: s.samples })
                                .collect(),
                        ),
                        D::String { time, value } => p::Data::String(p::SampleText { time, value }),
                    },
                    warnings: r.warnings,
                }),
                Err(E::Denied(m)) => Err(p::QueryError::Denied(m)),
                Err(E::Failed(m)) => Err(p::QueryError::Failed(m)),
            }
        }
    };
}
pub(crate) use log_and_prometheus_imports;

/// Converts a version's value tree (identical in every version so far) to and from the host's.
macro_rules! value_conversions {
    ($types:path) => {
        use $types as gen_types;

        pub(crate) fn value_from_wit(
            v: &gen_types::Value,
        ) -> Result<$crate::plugin::value::MetricValue, String> {
            use $crate::plugin::value::Node;
            let nodes: Vec<Node> = v
                .nodes
                .iter()
                .map(|n| match n {
                    gen_types::ValueNode::Null => Node::Null,
                    gen_types::ValueNode::Boolean(b) => Node::Boolean(*b),
                    gen_types::ValueNode::Integer(i) => Node::Integer(*i),
                    gen_types::ValueNode::Float(f) => Node::Float(*f),
                    gen_types::ValueNode::Text(s) => Node::Text(s.clone()),
                    gen_types::ValueNode::Array(c) => Node::Array(c.clone()),
                    gen_types::ValueNode::Map(e) => Node::Map(e.clone()),
                })
                .collect();
            $crate::plugin::value::MetricValue::from_nodes(&nodes)
        }

        pub(crate) fn value_to_wit(v: &$crate::plugin::value::MetricValue) -> gen_types::Value {
            use $crate::plugin::value::Node;
            let nodes = v
                .to_nodes()
                .into_iter()
                .map(|n| match n {
                    Node::Null => gen_types::ValueNode::Null,
                    Node::Boolean(b) => gen_types::ValueNode::Boolean(b),
                    Node::Integer(i) => gen_types::ValueNode::Integer(i),
                    Node::Float(f) => gen_types::ValueNode::Float(f),
                    Node::Text(s) => gen_types::ValueNode::Text(s),
                    Node::Array(c) => gen_types::ValueNode::Array(c),
                    Node::Map(e) => gen_types::ValueNode::Map(e),
                })
                .collect();
            gen_types::Value { nodes }
        }

        pub(crate) fn time_to_wit(t: jiff::Timestamp) -> gen_types::Timestamp {
            gen_types::Timestamp { seconds: t.as_second(), nanoseconds: t.subsec_nanosecond().max(0) as u32 }
        }

        pub(crate) fn time_from_wit(t: &gen_types::Timestamp) -> Result<jiff::Timestamp, String> {
            jiff::Timestamp::new(t.seconds, t.nanoseconds as i32)
                .map_err(|e| format!("invalid timestamp: {e}"))
        }

        pub(crate) fn object_ref(r: &$crate::plugin::metric::ObjectRef) -> gen_types::ObjectRef {
            gen_types::ObjectRef {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                uid: r.uid.clone(),
            }
        }
    };
}
pub(crate) use value_conversions;

/// Runs metric-provider and condition-evaluator calls of a version (identical in every version so far) and
/// converts their answers into the host's types.
macro_rules! metric_and_condition_calls {
    // Contract 0.1.0's evaluators have no `check`: their conditions are judged when measured.
    ($metric:ident, $condition:ident) => {
        $crate::plugin::contract::metric_and_condition_calls!(
            $metric,
            $condition,
            |_guest, _store, _expression| { Ok::<_, wasmtime::Error>(Ok(())) }
        );
    };
    ($metric:ident, $condition:ident, check) => {
        $crate::plugin::contract::metric_and_condition_calls!(
            $metric,
            $condition,
            |guest, store, expression| { guest.call_check(store, expression).await }
        );
    };
    ($metric:ident, $condition:ident, |$guest:ident, $store:ident, $expression:ident| $check:block) => {
        /// Runs one metric-provider call on a fresh instance.
        pub(crate) async fn metric_call(
            pre: &$metric::MetricProviderPluginPre<$crate::plugin::state::CallState>,
            store: &mut wasmtime::Store<$crate::plugin::state::CallState>,
            op: $crate::plugin::metric::MetricOp,
        ) -> wasmtime::Result<$crate::plugin::metric::MetricOut> {
            use $crate::plugin::metric::{MetricOp as Op, MetricOut as Out};
            use $metric::exports::serin::plugin::metric_provider as wit;
            let inst =
                pre.instantiate_async(&mut *store).await.map_err($crate::plugin::call::instantiation)?;
            let guest = inst.serin_plugin_metric_provider();
            let ctx = |c: &$crate::plugin::metric::MetricCall| wit::MetricContext {
                run: object_ref(&c.run),
                metric_name: c.metric_name.clone(),
                count: c.count,
                config: c.config.clone(),
                success_condition: c.success_condition.clone(),
                failure_condition: c.failure_condition.clone(),
            };
            let in_flight = |m: &$crate::plugin::metric::InFlight| wit::InFlight {
                started_at: time_to_wit(m.started_at),
                metadata: m.metadata.clone(),
            };
            let observation = match op {
                Op::Run(c) => guest.call_run(&mut *store, &ctx(&c)).await?,
                Op::Resume(c, m) => guest.call_resume(&mut *store, &ctx(&c), &in_flight(&m)).await?,
                Op::Terminate(c, m) => guest.call_terminate(&mut *store, &ctx(&c), &in_flight(&m)).await?,
                Op::GarbageCollect(c, keep) => {
                    return Ok(Out::GarbageCollected(
                        guest.call_garbage_collect(&mut *store, &ctx(&c), keep).await?,
                    ));
                }
            };
            use $crate::plugin::metric::{DecidedPhase as P, Observation as O};
            Ok(Out::Observed((|| {
                Ok(match observation {
                    wit::Observation::Judge(j) => O::Judge {
                        result: value_from_wit(&j.result)?,
                        display: j.display,
                        metadata: j.metadata,
                    },
                    wit::Observation::Running(r) => O::Running {
                        resume_at: r.resume_at.as_ref().map(time_from_wit).transpose()?,
                        message: r.message,
                        metadata: r.metadata,
                    },
                    wit::Observation::Decided(d) => O::Decided {
                        phase: match d.phase {
                            wit::DecidedPhase::Successful => P::Successful,
                            wit::DecidedPhase::Failed => P::Failed,
                            wit::DecidedPhase::Inconclusive => P::Inconclusive,
                        },
                        value: d.value,
                        message: d.message,
                        metadata: d.metadata,
                    },
                    wit::Observation::Error(e) => O::Error(e),
                })
            })()))
        }

        /// Runs one condition-evaluator call on a fresh instance.
        pub(crate) async fn condition_call(
            pre: &$condition::ConditionEvaluatorPluginPre<$crate::plugin::state::CallState>,
            store: &mut wasmtime::Store<$crate::plugin::state::CallState>,
            op: $crate::plugin::condition::ConditionOp,
        ) -> wasmtime::Result<$crate::plugin::condition::ConditionOut> {
            use $condition::exports::serin::plugin::condition_evaluator as wit;
            use $crate::plugin::condition::{ConditionOp as Op, ConditionOut as Out, Verdict};
            let inst =
                pre.instantiate_async(&mut *store).await.map_err($crate::plugin::call::instantiation)?;
            let guest = inst.serin_plugin_condition_evaluator();
            Ok(match op {
                Op::Assess { success, failure, result } => {
                    let out = guest
                        .call_assess(
                            &mut *store,
                            success.as_deref(),
                            failure.as_deref(),
                            &value_to_wit(&result),
                        )
                        .await?;
                    Out::Assessed(out.map(|v| match v {
                        wit::Verdict::Successful => Verdict::Successful,
                        wit::Verdict::Failed => Verdict::Failed,
                        wit::Verdict::Inconclusive => Verdict::Inconclusive,
                    }))
                }
                Op::Evaluate { expression, result } => Out::Evaluated(
                    guest.call_evaluate(&mut *store, &expression, &value_to_wit(&result)).await?,
                ),
                Op::Check { expression } => Out::Checked({
                    let ($guest, $store, $expression) = (&guest, &mut *store, expression.as_str());
                    $check?
                }),
            })
        }
    };
}
pub(crate) use metric_and_condition_calls;

/// Converts the host's routes and weight destinations into a version's (identical in every version so far).
macro_rules! route_conversions {
    ($wit:path) => {
        use $crate::plugin::router as route_host;
        use $wit as route_wit;

        fn destinations(d: &[route_host::WeightDestination]) -> Vec<route_wit::WeightDestination> {
            d.iter()
                .map(|d| route_wit::WeightDestination {
                    service_name: d.service_name.clone(),
                    pod_template_hash: d.pod_template_hash.clone(),
                    weight: d.weight,
                })
                .collect()
        }

        fn string_match(m: &route_host::StringMatch) -> route_wit::StringMatch {
            match m {
                route_host::StringMatch::Exact(s) => route_wit::StringMatch::Exact(s.clone()),
                route_host::StringMatch::Prefix(s) => route_wit::StringMatch::Prefix(s.clone()),
                route_host::StringMatch::Regex(s) => route_wit::StringMatch::Regex(s.clone()),
            }
        }

        fn header_route(r: &route_host::HeaderRoute) -> route_wit::HeaderRoute {
            route_wit::HeaderRoute {
                name: r.name.clone(),
                matches: r
                    .matches
                    .iter()
                    .map(|m| route_wit::HeaderMatch {
                        header_name: m.header_name.clone(),
                        header_value: string_match(&m.header_value),
                    })
                    .collect(),
            }
        }

        fn mirror_route(r: &route_host::MirrorRoute) -> route_wit::MirrorRoute {
            route_wit::MirrorRoute {
                name: r.name.clone(),
                matches: r
                    .matches
                    .iter()
                    .map(|m| route_wit::RouteMatch {
                        method: m.method.as_ref().map(string_match),
                        path: m.path.as_ref().map(string_match),
                        headers: m.headers.iter().map(|(k, v)| (k.clone(), string_match(v))).collect(),
                    })
                    .collect(),
                percentage: r.percentage,
            }
        }
    };
}
pub(crate) use route_conversions;

/// A version's `add_serin_imports` (the `serin:plugin` imports of one world into a linker) and the conversion of
/// its `api-resource`, for a module that has `types`, `log`, `prometheus` and `kubernetes` in scope.
macro_rules! serin_imports {
    () => {
        /// Adds the `serin:plugin` imports of `world` to a linker.
        pub(crate) fn add_serin_imports(
            linker: &mut wasmtime::component::Linker<CallState>,
            world: super::World,
        ) -> wasmtime::Result<()> {
            use wasmtime::component::HasSelf;
            types::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
            log::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
            if world.serin_imports().contains(&"prometheus") {
                prometheus::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
            }
            if world.serin_imports().contains(&"kubernetes") {
                kubernetes::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
            }
            Ok(())
        }

        fn resource(r: kubernetes::ApiResource) -> $crate::plugin::kube::KubeResource {
            $crate::plugin::kube::KubeResource { group: r.group, version: r.version, plural: r.plural }
        }
    };
}
pub(crate) use serin_imports;
