//! AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun: metrics, providers, run status.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::common::{AnalysisPhase, Argument, DryRun, MeasurementRetention, preserve_unknown_object};

/// A reusable set of metrics with arguments; AnalysisRuns are instantiated from it.
// Several `printcolumn(...)` entries are distinct columns, not duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AnalysisTemplate",
    namespaced,
    shortname = "at",
    derive = "PartialEq",
    derive = "Default",
    doc = "AnalysisTemplate holds the template for performing canary analysis",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since resource was created"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    /// Metrics measured by runs of this template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<Metric>>,
    /// Arguments the metrics refer to as `{{args.NAME}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Argument>>,
    /// Dry-run rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Vec<DryRun>>,
    /// Measurement retention rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_retention: Option<Vec<MeasurementRetention>>,
    /// Other templates whose metrics and arguments are merged into this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates: Option<Vec<AnalysisTemplateRef>>,
}

impl AnalysisTemplateSpec {
    /// The metrics, empty when unset.
    pub fn metrics(&self) -> &[Metric] {
        self.metrics.as_deref().unwrap_or_default()
    }
}

/// A cluster-scoped AnalysisTemplate; its spec is an [`AnalysisTemplateSpec`].
// Several `printcolumn(...)` entries are distinct columns, not duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "ClusterAnalysisTemplate",
    shortname = "cat",
    derive = "PartialEq",
    derive = "Default",
    doc = "ClusterAnalysisTemplate holds the template for performing canary analysis",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since resource was created"
    )
)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct ClusterAnalysisTemplateSpec(pub AnalysisTemplateSpec);

impl std::ops::Deref for ClusterAnalysisTemplateSpec {
    type Target = AnalysisTemplateSpec;

    fn deref(&self) -> &AnalysisTemplateSpec {
        &self.0
    }
}

impl std::ops::DerefMut for ClusterAnalysisTemplateSpec {
    fn deref_mut(&mut self) -> &mut AnalysisTemplateSpec {
        &mut self.0
    }
}

/// Reference from one template to another.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    /// Template name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    /// Look the template up as a ClusterAnalysisTemplate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
}

/// One metric: how often to measure, how to judge each measurement, and when to give up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// Name, unique within a run.
    pub name: String,
    /// Go duration between measurements; absent means a single measurement unless `count` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Go duration to wait after the run starts before the first measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    /// Number of measurements; unset or 0 means 1 without `interval`, unbounded with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<IntOrString>,
    /// Expression over `result` deciding success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    /// Expression over `result` deciding failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    /// Failed when more measurements than this failed (default 0; -1 disables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<IntOrString>,
    /// Inconclusive when more measurements than this were inconclusive (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<IntOrString>,
    /// Error when more consecutive measurements than this errored (default 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_error_limit: Option<IntOrString>,
    /// Successful as soon as this many consecutive measurements succeeded (default 0 = off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_success_limit: Option<IntOrString>,
    /// Where the value comes from; exactly one provider.
    pub provider: MetricProvider,
}

/// The metric provider; exactly one member is set (`plugin` with exactly one entry).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricProvider {
    /// Prometheus query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetric>,
    /// Kayenta canary judgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kayenta: Option<KayentaMetric>,
    /// HTTP request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebMetric>,
    /// Datadog query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogMetric>,
    /// Wavefront query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wavefront: Option<WavefrontMetric>,
    /// New Relic NRQL query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_relic: Option<NewRelicMetric>,
    /// Kubernetes Job; success or failure of the Job is the measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobMetric>,
    /// AWS CloudWatch metric data queries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch: Option<CloudWatchMetric>,
    /// Graphite query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphite: Option<GraphiteMetric>,
    /// InfluxDB Flux query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub influxdb: Option<InfluxdbMetric>,
    /// Apache SkyWalking GraphQL query.
    #[serde(rename = "skywalking", skip_serializing_if = "Option::is_none")]
    pub sky_walking: Option<SkyWalkingMetric>,
    /// Metric provider plugins by name (`org/name`), each with its own configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub plugin: Option<BTreeMap<String, serde_json::Value>>,
}

impl MetricProvider {
    /// JSON names of the providers set, one entry per plugin.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds = Vec::new();
        let mut add = |set: bool, name: &str| {
            if set {
                kinds.push(name.to_owned());
            }
        };
        add(self.prometheus.is_some(), "prometheus");
        add(self.kayenta.is_some(), "kayenta");
        add(self.web.is_some(), "web");
        add(self.datadog.is_some(), "datadog");
        add(self.wavefront.is_some(), "wavefront");
        add(self.new_relic.is_some(), "newRelic");
        add(self.job.is_some(), "job");
        add(self.cloud_watch.is_some(), "cloudWatch");
        add(self.graphite.is_some(), "graphite");
        add(self.influxdb.is_some(), "influxdb");
        add(self.sky_walking.is_some(), "skywalking");
        for name in self.plugin.iter().flat_map(|p| p.keys()) {
            kinds.push(format!("plugin.{name}"));
        }
        kinds
    }
}

/// Prometheus query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    /// Server address (or `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// PromQL query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// Seconds before the query times out (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Skip TLS verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Extra HTTP headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<WebMetricHeader>>,
    /// Run a range query instead of an instant query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_query: Option<PrometheusRangeQueryArgs>,
}

/// Range-query bounds; `start` and `end` are expressions such as `now() - duration("1h")`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRangeQueryArgs {
    /// Start expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Step (Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// Authentication of a provider request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    /// AWS SigV4 signing (Amazon Managed Prometheus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<Sigv4Config>,
    /// OAuth2 client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
    /// HTTP basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
}

/// AWS SigV4 configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sigv4Config {
    /// Region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Credentials profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Role to assume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// OAuth2 client-credentials configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Config {
    /// Token endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Client secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// HTTP basic authentication.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// An HTTP header.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetricHeader {
    /// Header name.
    pub key: String,
    /// Header value.
    pub value: String,
}

/// HTTP request whose (JSON) response is the measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetric {
    /// `GET` (default), `POST` or `PUT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// URL.
    pub url: String,
    /// Headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<WebMetricHeader>>,
    /// Request body (POST/PUT; not with `jsonBody`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Seconds before the request times out (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Kubernetes JSONPath selecting the value (default `{$}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// Skip TLS verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// JSON request body (POST/PUT; not with `body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub json_body: Option<serde_json::Value>,
    /// Authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
}

/// Datadog query (API v1 `query`, or v2 `queries` with `formula`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatadogMetric {
    /// Query window (Go duration, default 5m).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// v1 query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// v2 named queries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queries: Option<BTreeMap<String, String>>,
    /// v2 formula over the named queries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// `v1` (default) or `v2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// v2 aggregator: avg, min, max, sum, last, percentile, mean, l2norm, area.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<String>,
    /// Secret holding `address`, `api-key` and `app-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    /// Go duration before a request times out (default 10s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
}

/// A Secret holding provider credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read it from the AnalysisRun's namespace instead of the controller's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaced: Option<bool>,
}

/// Wavefront query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WavefrontMetric {
    /// Server address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// New Relic NRQL query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewRelicMetric {
    /// Secret with the credentials (default `newrelic`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// NRQL query.
    pub query: String,
    /// Seconds before the query times out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// A Job whose completion is the measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobMetric {
    /// Labels and annotations of the Job (the CRD keeps only these two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "labels_and_annotations")]
    pub metadata: Option<ObjectMeta>,
    /// The Job spec.
    #[schemars(schema_with = "super::crds::job_spec_schema")]
    pub spec: JobSpec,
}

fn labels_and_annotations(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "annotations": { "type": "object", "additionalProperties": { "type": "string" } },
            "labels": { "type": "object", "additionalProperties": { "type": "string" } },
        },
    })
}

/// Kayenta canary judgement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KayentaMetric {
    /// Kayenta address.
    pub address: String,
    /// Application.
    pub application: String,
    /// Canary configuration.
    pub canary_config_name: String,
    /// Metrics account.
    pub metrics_account_name: String,
    /// Configuration account.
    pub configuration_account_name: String,
    /// Storage account.
    pub storage_account_name: String,
    /// Score thresholds.
    pub threshold: KayentaThreshold,
    /// Scopes compared.
    pub scopes: Vec<KayentaScope>,
    /// Look back over the whole interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookback: Option<bool>,
}

/// Kayenta score thresholds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KayentaThreshold {
    /// Score at or above which the judgement passes.
    pub pass: i64,
    /// Score at or above which the judgement is inconclusive.
    pub marginal: i64,
}

/// A Kayenta scope pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KayentaScope {
    /// Scope name.
    pub name: String,
    /// Control scope.
    pub control_scope: ScopeDetail,
    /// Experiment scope.
    pub experiment_scope: ScopeDetail,
}

/// One side of a Kayenta scope.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeDetail {
    /// Scope.
    pub scope: String,
    /// Region.
    pub region: String,
    /// Step in seconds.
    pub step: i64,
    /// Start time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// AWS CloudWatch metric data queries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetric {
    /// Query window (Go duration, default 5m).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Queries.
    pub metric_data_queries: Vec<CloudWatchMetricDataQuery>,
}

/// One CloudWatch metric data query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetricDataQuery {
    /// Query id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Metric math expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Metric and statistic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<CloudWatchMetricStat>,
    /// Period in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<IntOrString>,
    /// Include this query in the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_data: Option<bool>,
}

/// CloudWatch metric and statistic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetricStat {
    /// The metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<CloudWatchMetricStatMetric>,
    /// Period in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<IntOrString>,
    /// Statistic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    /// Unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A CloudWatch metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetricStatMetric {
    /// Dimensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Vec<CloudWatchMetricStatMetricDimension>>,
    /// Metric name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A CloudWatch dimension.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetricStatMetricDimension {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Graphite query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphiteMetric {
    /// Server address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// InfluxDB Flux query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InfluxdbMetric {
    /// Secret with `address`, `authToken` and `org` (default `influxdb`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Flux query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// Apache SkyWalking GraphQL query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkyWalkingMetric {
    /// Server address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// GraphQL query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Query window (Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// One execution of a set of metrics.
// Several `printcolumn(...)` entries are distinct columns, not duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AnalysisRun",
    namespaced,
    status = "AnalysisRunStatus",
    shortname = "ar",
    derive = "PartialEq",
    derive = "Default",
    doc = "AnalysisRun is an instantiation of an AnalysisTemplate",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "AnalysisRun status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since resource was created"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunSpec {
    /// Metrics to measure.
    pub metrics: Vec<Metric>,
    /// Argument values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Argument>>,
    /// Stop: no new measurements; in-flight ones are terminated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminate: Option<bool>,
    /// Dry-run rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Vec<DryRun>>,
    /// Measurement retention rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_retention: Option<Vec<MeasurementRetention>>,
    /// Delete the run this long after it completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_strategy: Option<TtlStrategy>,
}

/// When a completed AnalysisRun is deleted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TtlStrategy {
    /// Seconds after completion in any phase without a more specific setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_completion: Option<i32>,
    /// Seconds after a Failed or Error completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_failure: Option<i32>,
    /// Seconds after a Successful completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_success: Option<i32>,
}

/// AnalysisRun status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStatus {
    /// Run phase (upstream always writes this key, possibly empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    /// Why the run is in its phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One result per metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_results: Option<Vec<MetricResult>>,
    /// When the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Counts over the decisive metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_summary: Option<RunSummary>,
    /// Counts over the dry-run metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_summary: Option<RunSummary>,
    /// When the run completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
}

/// Metric counts by phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// Successful metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful: Option<i32>,
    /// Failed metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Inconclusive metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<i32>,
    /// Errored metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<i32>,
}

/// Measurements and counters of one metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// Metric name.
    pub name: String,
    /// Metric phase.
    pub phase: AnalysisPhase,
    /// Newest measurements (10 or the retention limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurements: Option<Vec<Measurement>>,
    /// Message (e.g. the last error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Completed measurements without Error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// Successful measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful: Option<i32>,
    /// Failed measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Inconclusive measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<i32>,
    /// Errored measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<i32>,
    /// Errors in a row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_error: Option<i32>,
    /// Metric runs in dry-run mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Provider metadata (e.g. the resolved query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Successes in a row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_success: Option<i32>,
}

/// One measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// Measurement phase.
    pub phase: AnalysisPhase,
    /// Message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Completion; absent while in flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Measured value, as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Provider metadata (job name, Kayenta run id, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// When to resume an in-flight measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<Time>,
}
