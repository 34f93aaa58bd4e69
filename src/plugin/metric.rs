//! Metric provider calls (`run`, `resume`, `terminate`, `garbage-collect`) with host-side types.

use super::call::CallOptions;
use super::component::{Plugin, PluginKind};
use super::contract::{Pre, v0_1_0, v0_2_0};
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

    /// An error judging this observation's value, with the provider's `hint` about the value when it gave one
    /// (e.g. the web provider's "the response body is not JSON").
    pub fn explain(&self, error: String) -> String {
        let hint = match self {
            Observation::Judge { metadata, .. } => metadata.iter().find(|(k, _)| k == "hint").map(|(_, v)| v),
            _ => None,
        };
        match hint {
            Some(hint) => format!("{error} ({hint})"),
            None => error,
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

/// One metric-provider call, with owned arguments (they travel into the call's store).
#[derive(Debug, Clone)]
pub(crate) enum MetricOp {
    Run(MetricCall),
    Resume(MetricCall, InFlight),
    Terminate(MetricCall, InFlight),
    GarbageCollect(MetricCall, u32),
}

/// What a metric-provider call answered, in host types; `Observed(Err(..))` is malformed output.
#[derive(Debug)]
pub(crate) enum MetricOut {
    Observed(Result<Observation, String>),
    GarbageCollected(Result<(), String>),
}

impl Plugin {
    async fn metric_call(&self, opts: &CallOptions, op: MetricOp) -> Result<MetricOut, CallError> {
        let pre = self.pre().clone();
        if !matches!(pre, Pre::Metric01(_) | Pre::Metric02(_)) {
            return Err(self.wrong_kind(PluginKind::MetricProvider));
        }
        self.call(opts, move |store| {
            Box::pin(async move {
                match &pre {
                    Pre::Metric01(p) => v0_1_0::metric_call(p, store, op).await,
                    Pre::Metric02(p) => v0_2_0::metric_call(p, store, op).await,
                    _ => unreachable!("checked above"),
                }
            })
        })
        .await
    }

    async fn observe(&self, opts: &CallOptions, op: MetricOp) -> Result<Observation, CallError> {
        match self.metric_call(opts, op).await? {
            MetricOut::Observed(Ok(obs)) => {
                self.check_output(obs.size(), &opts.limits)?;
                Ok(obs)
            }
            MetricOut::Observed(Err(message)) => {
                Err(CallError::BadOutput { plugin: self.name.clone(), message })
            }
            MetricOut::GarbageCollected(_) => unreachable!("a measurement answers with an observation"),
        }
    }

    /// Starts a measurement.
    pub async fn metric_run(&self, opts: &CallOptions, call: &MetricCall) -> Result<Observation, CallError> {
        self.observe(opts, MetricOp::Run(call.clone())).await
    }

    /// Continues a long-running measurement.
    pub async fn metric_resume(
        &self,
        opts: &CallOptions,
        call: &MetricCall,
        m: &InFlight,
    ) -> Result<Observation, CallError> {
        self.observe(opts, MetricOp::Resume(call.clone(), m.clone())).await
    }

    /// Stops a long-running measurement early.
    pub async fn metric_terminate(
        &self,
        opts: &CallOptions,
        call: &MetricCall,
        m: &InFlight,
    ) -> Result<Observation, CallError> {
        self.observe(opts, MetricOp::Terminate(call.clone(), m.clone())).await
    }

    /// Removes what the provider created beyond the newest `keep` measurements; `Ok(Err(..))` is the plugin's
    /// own failure message.
    pub async fn metric_garbage_collect(
        &self,
        opts: &CallOptions,
        call: &MetricCall,
        keep: u32,
    ) -> Result<Result<(), String>, CallError> {
        match self.metric_call(opts, MetricOp::GarbageCollect(call.clone(), keep)).await? {
            MetricOut::GarbageCollected(out) => {
                self.check_output(out.as_ref().err().map_or(0, String::len), &opts.limits)?;
                Ok(out)
            }
            MetricOut::Observed(_) => unreachable!("garbage collection answers with a result"),
        }
    }
}
