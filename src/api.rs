//! serin's API: Argo Rollouts' `argoproj.io/v1alpha1` kinds, defaults, validation, CRDs and lint.
//!
//! The five kinds are [`Rollout`], [`AnalysisTemplate`], [`ClusterAnalysisTemplate`],
//! [`AnalysisRun`] and [`Experiment`], with upstream's JSON field names, optionality and status
//! blocks. [`Validate`] checks an object the way upstream does; [`defaults`] reads unset fields the
//! way upstream does; [`crds::crds`] builds the CustomResourceDefinitions; [`lint`] is the engine of
//! `serin lint`. Deliberate differences from upstream are listed in `docs/api-compat.md`.

pub mod analysis;
pub mod common;
pub mod crds;
pub mod decode;
pub mod defaults;
pub mod duration;
pub mod experiment;
pub mod fixtures;
pub mod lint;
pub mod rollout;
pub mod traffic;
pub mod validation;

pub use analysis::{
    AnalysisRun, AnalysisRunSpec, AnalysisRunStatus, AnalysisTemplate, AnalysisTemplateSpec,
    ClusterAnalysisTemplate, ClusterAnalysisTemplateSpec, Measurement, Metric, MetricProvider, MetricResult,
};
pub use common::{API_VERSION, AnalysisPhase, Argument, DryRun, GROUP, MeasurementRetention, VERSION};
pub use experiment::{Experiment, ExperimentSpec, ExperimentStatus};
pub use rollout::{BlueGreenStrategy, CanaryStep, CanaryStrategy, Rollout, RolloutSpec, RolloutStatus};
pub use traffic::RolloutTrafficRouting;
pub use validation::{ErrorKind, FieldError, FieldPath, Validate, ValidationError};
