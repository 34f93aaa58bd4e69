//! The Experiment kind: ReplicaSets run side by side for a while, judged by analyses.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AnalysisPhase, AnalysisRunMetadata, Argument, DryRun, MeasurementRetention, string_enum,
};
use super::rollout::TemplateService;

/// An Experiment: one or more ReplicaSets plus AnalysisRuns, for a duration or until the analyses end.
// Several `printcolumn(...)` entries are distinct columns, not duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Experiment",
    namespaced,
    status = "ExperimentStatus",
    shortname = "exp",
    derive = "PartialEq",
    derive = "Default",
    doc = "Experiment is a specification for an Experiment resource",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "Experiment status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since resource was created"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentSpec {
    /// ReplicaSets to run.
    pub templates: Vec<TemplateSpec>,
    /// Go duration the experiment runs after all templates are available; absent = until ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Seconds without progress before the experiment fails (default 600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// End the experiment now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminate: Option<bool>,
    /// AnalysisRuns started with the experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analyses: Option<Vec<ExperimentAnalysisTemplateRef>>,
    /// Seconds the ReplicaSets stay up after the experiment ends (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Dry-run rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Vec<DryRun>>,
    /// Measurement retention rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_retention: Option<Vec<MeasurementRetention>>,
    /// Metadata for the AnalysisRuns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<AnalysisRunMetadata>,
}

/// One ReplicaSet of an Experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    /// Template name, unique within the experiment.
    pub name: String,
    /// Replicas (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Seconds a pod must be ready to count as available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Pod selector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Pod template.
    #[schemars(schema_with = "super::crds::pod_template_schema")]
    pub template: PodTemplateSpec,
    /// Create a Service for the template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<TemplateService>,
}

/// An AnalysisRun started by an Experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentAnalysisTemplateRef {
    /// Name of this analysis within the experiment.
    pub name: String,
    /// AnalysisTemplate (or ClusterAnalysisTemplate with `clusterScope`).
    pub template_name: String,
    /// Look the template up as a ClusterAnalysisTemplate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    /// Argument values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Argument>>,
    /// The experiment waits for this analysis before completing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_for_completion: Option<bool>,
}

/// Experiment status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentStatus {
    /// Experiment phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    /// Why the experiment is in its phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One entry per template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_statuses: Option<Vec<TemplateStatus>>,
    /// When all templates became available (the duration counts from here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_at: Option<Time>,
    /// Conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ExperimentCondition>>,
    /// One entry per analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_runs: Option<Vec<ExperimentAnalysisRunStatus>>,
}

string_enum! {
    /// State of one experiment template.
    pub enum TemplateStatusCode {
        Progressing = "Progressing",
        Running = "Running",
        Successful = "Successful",
        Failed = "Failed",
        Error = "Error",
    }
}

/// State of one experiment template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    /// Template name.
    pub name: String,
    /// Non-terminated pods.
    pub replicas: i32,
    /// Pods with the desired template.
    pub updated_replicas: i32,
    /// Ready pods.
    pub ready_replicas: i32,
    /// Available pods.
    pub available_replicas: i32,
    /// Hash collisions seen when naming the ReplicaSet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// Template state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TemplateStatusCode>,
    /// Message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Last state change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Generated Service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Pod-template hash of the ReplicaSet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
}

string_enum! {
    /// Experiment condition types.
    pub enum ExperimentConditionType {
        InvalidSpec = "InvalidSpec",
        Completed = "Completed",
        Progressing = "Progressing",
        Running = "Running",
        ReplicaFailure = "ReplicaFailure",
    }
}

/// An Experiment condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentCondition {
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: ExperimentConditionType,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Last update.
    pub last_update_time: Time,
    /// Last status change.
    pub last_transition_time: Time,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// State of one experiment analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentAnalysisRunStatus {
    /// Analysis name.
    pub name: String,
    /// AnalysisRun name.
    pub analysis_run: String,
    /// Its phase.
    pub phase: AnalysisPhase,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
