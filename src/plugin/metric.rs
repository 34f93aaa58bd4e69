//! Metric provider calls (`run`, `resume`, `terminate`, `garbage-collect`) with host-side types.

use super::bindings::metric::exports::serin::plugin::metric_provider as wit;
use super::bindings::types as wit_types;
use super::call::CallOptions;
use super::component::{Plugin, PluginKind, Pre};
use super::error::CallError;
use super::value::MetricValue;

/// The object a call is made for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// One metric of one AnalysisRun.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricCall {
    pub run: ObjectRef,
    pub metric_name: String,
    /// Measurements recorded so far for this metric.
    pub count: u32,
    /// Provider configuration (JSON) with args substituted.
    pub config: String,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
}

/// The measurement a `resume` or `terminate` continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub started_at: jiff::Timestamp,
    pub metadata: Vec<(String, String)>,
}

/// A phase a provider decided itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedPhase {
    Successful,
    Failed,
    Inconclusive,
}

/// What a provider observed.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A value for the host to judge with the metric's conditions.
    Judge { result: MetricValue, display: Option<String>, metadata: Vec<(String, String)> },
    /// Still measuring; resume later.
    Running { resume_at: Option<jiff::Timestamp>, message: Option<String>, metadata: Vec<(String, String)> },
    /// The provider decided the phase.
    Decided {
        phase: DecidedPhase,
        value: Option<String>,
        message: Option<String>,
        metadata: Vec<(String, String)>,
    },
    /// The measurement could not be taken.
    Error(String),
}

impl Observation {
    /// The value as stored in the measurement: the provider's display string, else the rendered result.
    pub fn display_value(&self) -> Option<String> {
        match self {
            Observation::Judge { result, display, .. } => {
                Some(display.clone().unwrap_or_else(|| result.render()))
            }
            Observation::Decided { value, .. } => value.clone(),
            _ => None,
        }
    }

    fn size(&self) -> usize {
        let pairs = |m: &[(String, String)]| m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        match self {
            Observation::Judge { result, display, metadata } => {
                result.text_size() + opt(display) + pairs(metadata)
            }
            Observation::Running { message, metadata, .. } => opt(message) + pairs(metadata),
            Observation::Decided { value, message, metadata, .. } => {
                opt(value) + opt(message) + pairs(metadata)
            }
            Observation::Error(m) => m.len(),
        }
    }
}

/// Instantiates the metric provider in a fresh store and calls one export on it.
macro_rules! metric_call {
    ($self:ident, $opts:ident, |$guest:ident, $store:ident| $call:expr) => {{
        let pre = $self.metric_pre()?;
        $self
            .call($opts, move |store| {
                Box::pin(async move {
                    let inst =
                        pre.instantiate_async(&mut *store).await.map_err(super::call::instantiation)?;
                    let $guest = inst.serin_plugin_metric_provider();
                    let $store = &mut *store;
                    $call.await
                })
            })
            .await
    }};
}

impl Plugin {
    fn metric_pre(
        &self,
    ) -> Result<super::bindings::metric::MetricProviderPluginPre<super::state::CallState>, CallError> {
        match self.pre() {
            Pre::Metric(pre) => Ok(pre.clone()),
            _ => Err(self.wrong_kind(PluginKind::MetricProvider)),
        }
    }

    /// Starts a measurement.
    pub async fn metric_run(&self, opts: &CallOptions, call: &MetricCall) -> Result<Observation, CallError> {
        let ctx = to_wit_ctx(call);
        let out = metric_call!(self, opts, |guest, store| guest.call_run(store, &ctx))?;
        self.observation(out, opts)
    }

    /// Continues a long-running measurement.
    pub async fn metric_resume(
        &self,
        opts: &CallOptions,
        call: &MetricCall,
        m: &InFlight,
    ) -> Result<Observation, CallError> {
        let (ctx, m) = (to_wit_ctx(call), to_wit_in_flight(m));
        let out = metric_call!(self, opts, |guest, store| guest.call_resume(store, &ctx, &m))?;
        self.observation(out, opts)
    }

    /// Stops a long-running measurement early.
    pub async fn metric_terminate(
        &self,
        opts: &CallOptions,
        call: &MetricCall,
        m: &InFlight,
    ) -> Result<Observation, CallError> {
        let (ctx, m) = (to_wit_ctx(call), to_wit_in_flight(m));
        let out = metric_call!(self, opts, |guest, store| guest.call_terminate(store, &ctx, &m))?;
        self.observation(out, opts)
    }

    /// Removes what the provider created beyond the newest `keep` measurements; `Ok(Err(..))` is the plugin's
    /// own failure message.
    pub async fn metric_garbage_collect(
        &self,
        opts: &CallOptions,
        call: &MetricCall,
        keep: u32,
    ) -> Result<Result<(), String>, CallError> {
        let ctx = to_wit_ctx(call);
        let out = metric_call!(self, opts, |guest, store| guest.call_garbage_collect(store, &ctx, keep))?;
        self.check_output(out.as_ref().err().map_or(0, String::len), &opts.limits)?;
        Ok(out)
    }

    fn observation(&self, out: wit::Observation, opts: &CallOptions) -> Result<Observation, CallError> {
        let bad = |message: String| CallError::BadOutput { plugin: self.name.clone(), message };
        let obs = match out {
            wit::Observation::Judge(j) => Observation::Judge {
                result: MetricValue::from_wit(&j.result).map_err(bad)?,
                display: j.display,
                metadata: j.metadata,
            },
            wit::Observation::Running(r) => Observation::Running {
                resume_at: r.resume_at.map(from_wit_time).transpose().map_err(bad)?,
                message: r.message,
                metadata: r.metadata,
            },
            wit::Observation::Decided(d) => Observation::Decided {
                phase: match d.phase {
                    wit::DecidedPhase::Successful => DecidedPhase::Successful,
                    wit::DecidedPhase::Failed => DecidedPhase::Failed,
                    wit::DecidedPhase::Inconclusive => DecidedPhase::Inconclusive,
                },
                value: d.value,
                message: d.message,
                metadata: d.metadata,
            },
            wit::Observation::Error(e) => Observation::Error(e),
        };
        self.check_output(obs.size(), &opts.limits)?;
        Ok(obs)
    }
}

fn to_wit_ctx(call: &MetricCall) -> wit::MetricContext {
    wit::MetricContext {
        run: wit_types::ObjectRef {
            api_version: call.run.api_version.clone(),
            kind: call.run.kind.clone(),
            namespace: call.run.namespace.clone(),
            name: call.run.name.clone(),
            uid: call.run.uid.clone(),
        },
        metric_name: call.metric_name.clone(),
        count: call.count,
        config: call.config.clone(),
        success_condition: call.success_condition.clone(),
        failure_condition: call.failure_condition.clone(),
    }
}

fn to_wit_in_flight(m: &InFlight) -> wit::InFlight {
    wit::InFlight { started_at: to_wit_time(m.started_at), metadata: m.metadata.clone() }
}

pub(crate) fn to_wit_time(t: jiff::Timestamp) -> wit_types::Timestamp {
    wit_types::Timestamp { seconds: t.as_second(), nanoseconds: t.subsec_nanosecond().max(0) as u32 }
}

pub(crate) fn from_wit_time(t: wit_types::Timestamp) -> Result<jiff::Timestamp, String> {
    jiff::Timestamp::new(t.seconds, t.nanoseconds as i32).map_err(|e| format!("invalid timestamp: {e}"))
}
