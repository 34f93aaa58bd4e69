//! A Rollout's status, as upstream writes it: counts, conditions, pauses, and the canary's and blue-green's
//! own blocks.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::common::{AnalysisPhase, preserve_unknown_object, string_enum};

/// Rollout status as upstream writes it, so `kubectl argo rollouts` and Argo CD can read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Abort the current update (set by users or by the controller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<bool>,
    /// Why the controller paused; cleared by users to resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_conditions: Option<Vec<PauseCondition>>,
    /// The controller added a pause condition (stays true after a user resume).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_pause: Option<bool>,
    /// When the controller first processed the abort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted_at: Option<Time>,
    /// Hash of the desired pod template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_pod_hash: Option<String>,
    /// Hash of the canary step list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_hash: Option<String>,
    /// Non-terminated pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Non-terminated pods with the desired template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Ready pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Available pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Current canary step; equals the step count when all are done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Hash collisions seen when naming ReplicaSets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// `metadata.generation` last observed, as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<String>,
    /// Conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<RolloutCondition>>,
    /// Canary state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    /// Blue-green state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStatus>,
    /// Pods receiving active traffic (scale subresource).
    #[serde(rename = "HPAReplicas", skip_serializing_if = "Option::is_none")]
    pub hpa_replicas: Option<i32>,
    /// Selector of the pods receiving active traffic (scale subresource).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Pod-template hash of the stable ReplicaSet.
    #[serde(rename = "stableRS", skip_serializing_if = "Option::is_none")]
    pub stable_rs: Option<String>,
    /// Last completed restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<Time>,
    /// Full promotion requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_full: Option<bool>,
    /// `Healthy`, `Degraded`, `Progressing` or `Paused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<RolloutPhase>,
    /// Why the Rollout is in its phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Generation of the referenced workload last observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_observed_generation: Option<String>,
    /// ALB load balancer and target groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alb: Option<AlbStatus>,
    /// Per-Ingress ALB state with several Ingresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub albs: Option<Vec<AlbStatus>>,
    /// Timing of the current or last update (alpha upstream, new in 1.10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<RolloutDurationStatus>,
}

string_enum! {
    /// Rollout phase as computed by the controller.
    pub enum RolloutPhase {
        Healthy = "Healthy",
        Degraded = "Degraded",
        Progressing = "Progressing",
        Paused = "Paused",
    }
}

string_enum! {
    /// Why a Rollout paused.
    pub enum PauseReason {
        InconclusiveAnalysisRun = "InconclusiveAnalysisRun",
        InconclusiveExperiment = "InconclusiveExperiment",
        CanaryPauseStep = "CanaryPauseStep",
        BlueGreenPause = "BlueGreenPause",
    }
}

/// A pause and when it began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    /// Reason.
    pub reason: PauseReason,
    /// Start.
    pub start_time: Time,
}

string_enum! {
    /// Rollout condition types.
    pub enum RolloutConditionType {
        InvalidSpec = "InvalidSpec",
        Available = "Available",
        Progressing = "Progressing",
        ReplicaFailure = "ReplicaFailure",
        Paused = "Paused",
        Completed = "Completed",
        Healthy = "Healthy",
        /// serin's: a traffic router failed, was denied, or has not applied the change yet (absent when all
        /// routers applied what they were asked).
        TrafficRouting = "TrafficRouting",
    }
}

/// A Rollout condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutCondition {
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: RolloutConditionType,
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

/// Canary part of the status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// The current step's AnalysisRun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// The background AnalysisRun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_background_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// The running Experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_experiment: Option<String>,
    /// Weights last set on the traffic routers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<TrafficWeights>,
    /// Which ping-pong Service is stable: `ping` or `pong`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_ping_pong: Option<PingPongType>,
    /// State of step plugins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_plugin_statuses: Option<Vec<StepPluginStatus>>,
    /// serin's: what each traffic router last reported, and the state it asked to be handed back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_router_statuses: Option<Vec<TrafficRouterStatus>>,
}

/// What one traffic router last reported for a Rollout.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouterStatus {
    /// The router: a plugin name (`org/name`) or an in-tree router's (`istio`, `nginx`, ...).
    pub name: String,
    /// The state the router returned, handed back to it on its next call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why the last change is not applied: a failure, a denial, or what the router is waiting for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

string_enum! {
    /// The stable side of a ping-pong pair.
    pub enum PingPongType {
        Ping = "ping",
        Pong = "pong",
    }
}

/// Weights set on the traffic routers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    /// Canary destination.
    pub canary: WeightDestination,
    /// Stable destination.
    pub stable: WeightDestination,
    /// Experiment destinations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional: Option<Vec<WeightDestination>>,
    /// Whether the weight was verified to have taken effect (ALB only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// One weighted destination.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeightDestination {
    /// Percentage of traffic.
    pub weight: i32,
    /// Service receiving it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Pod-template hash of its ReplicaSet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
}

/// Name and phase of an AnalysisRun a Rollout is waiting on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisRunStatus {
    /// AnalysisRun name.
    pub name: String,
    /// Its phase.
    pub status: AnalysisPhase,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Blue-green part of the status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    /// Hash in the preview Service's selector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_selector: Option<String>,
    /// Hash in the active Service's selector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_selector: Option<String>,
    /// One-way latch for `previewReplicaCount`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_up_preview_check_point: Option<bool>,
    /// Pre-promotion AnalysisRun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// Post-promotion AnalysisRun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
}

/// ALB and target groups of one Ingress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlbStatus {
    /// Load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<AwsResourceRef>,
    /// Canary target group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_target_group: Option<AwsResourceRef>,
    /// Stable target group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_target_group: Option<AwsResourceRef>,
    /// Ingress name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
}

/// An AWS resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsResourceRef {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Full name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

string_enum! {
    /// Phase of a step plugin operation.
    pub enum StepPluginPhase {
        Running = "Running",
        Successful = "Successful",
        Failed = "Failed",
        Error = "Error",
    }
}

string_enum! {
    /// Operation a step plugin status entry records.
    pub enum StepPluginOperation {
        Run = "Run",
        Terminate = "Terminate",
        Abort = "Abort",
    }
}

/// State of one step plugin operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepPluginStatus {
    /// Step index.
    pub index: i32,
    /// Plugin name.
    pub name: String,
    /// Start of the first execution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Last update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// Completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Phase; empty on a Run entry means the plugin is disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<StepPluginPhase>,
    /// Message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Delay before the next execution (Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<String>,
    /// Executions so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executions: Option<i32>,
    /// The plugin is globally disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Plugin-owned state, passed back on the next call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub status: Option<serde_json::Value>,
    /// `Run`, `Terminate` or `Abort`.
    pub operation: StepPluginOperation,
}

string_enum! {
    /// How an update ended.
    pub enum CompletionStatus {
        Promoted = "Promoted",
        FastPromoted = "FastPromoted",
        Aborted = "Aborted",
        Superseded = "Superseded",
        RolledBack = "RolledBack",
        FastRolledBack = "FastRolledBack",
    }
}

/// Timing of an update (`status.duration`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutDurationStatus {
    /// When the update started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_started_at: Option<Time>,
    /// Start of a manual pause in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_pause_started_at: Option<Time>,
    /// Seconds spent in completed manual pauses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_manual_pause_duration_seconds: Option<i64>,
    /// When the update ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// How it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_status: Option<CompletionStatus>,
}
