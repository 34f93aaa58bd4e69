//! Types and helpers shared by the five kinds: argument lists, dry-run rules, metadata, string enums.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The API group every serin kind lives in (the same as Argo Rollouts').
pub const GROUP: &str = "argoproj.io";
/// The only served version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` value of every serin object.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// Declares a string-valued enum that keeps unknown values.
///
/// Upstream declares these as Go string types without server-side enum checks, so any string is
/// accepted by the API server and must survive a decode/encode round trip. Known spellings get a
/// variant; anything else lands in `Other(String)` verbatim. The CRD schema is a plain string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $value, "`")] $variant, )+
            /// A spelling this version of serin does not know; kept verbatim so it round-trips.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $value, )+
                    Self::Other(s) => s.as_str(),
                }
            }

            /// Every spelling this version knows, in declaration order.
            pub const KNOWN: &'static [&'static str] = &[$($value),+];
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $value => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Ok(Self::from(s.as_str()))
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string" })
            }
        }
    };
}
pub(crate) use string_enum;

/// Schema for free-form JSON that the API server must keep as written (plugin configs and the like).
pub(crate) fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

string_enum! {
    /// Phase of an AnalysisRun, a metric result, a measurement, an Experiment or a template.
    ///
    /// Severity order, best to worst: Successful, Running, Pending, Inconclusive, Error, Failed.
    pub enum AnalysisPhase {
        Pending = "Pending",
        Running = "Running",
        Successful = "Successful",
        Failed = "Failed",
        Error = "Error",
        Inconclusive = "Inconclusive",
    }
}

/// A phase not yet decided is Pending.
impl Default for AnalysisPhase {
    fn default() -> Self {
        Self::Pending
    }
}

impl AnalysisPhase {
    /// Successful, Failed, Error and Inconclusive are final.
    pub fn completed(&self) -> bool {
        matches!(self, Self::Successful | Self::Failed | Self::Error | Self::Inconclusive)
    }
}

/// Labels and annotations added to pods while they play a role (canary, stable, active, preview).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateMetadata {
    /// Labels added to the pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations added to the pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Labels and annotations added to the AnalysisRuns a Rollout or Experiment creates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunMetadata {
    /// Labels added to the AnalysisRuns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations added to the AnalysisRuns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Runs the metrics whose names match `metricName` in dry-run mode: measured, never decisive.
///
/// `metricName` is a Go regular expression matched *unanchored* (quirk: `*` alone is not a valid
/// regular expression and matches nothing, although upstream's field comment suggests it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// Regular expression selecting metric names.
    pub metric_name: String,
}

/// Keeps at most `limit` measurements for the metrics whose names match `metricName` (default 10).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementRetention {
    /// Regular expression selecting metric names (unanchored, as for [`DryRun`]).
    pub metric_name: String,
    /// Number of measurements to keep.
    pub limit: i32,
}

/// An argument of an AnalysisTemplate or AnalysisRun (`{{args.NAME}}` placeholders).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    /// Argument name.
    pub name: String,
    /// Literal value; absent means it must be supplied by whoever creates the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Where to read the value from (a Secret key or a field of the owning object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
}

/// Source of an [`Argument`] value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueFrom {
    /// A key of a Secret in the AnalysisRun's namespace; resolved at measurement time and redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// A field of the owning object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
}

/// Reference to one key of a Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key within the Secret.
    pub key: String,
}

/// A field path such as `metadata.labels['app']` (downward-API rules for `metadata.*`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    /// Path of the field.
    pub field_path: String,
}

/// An argument a Rollout passes to the AnalysisRuns and Experiments it creates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunArgument {
    /// Argument name.
    pub name: String,
    /// Literal value (one of `value` / `valueFrom`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Computed value (one of `value` / `valueFrom`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ArgumentValueFrom>,
}

/// Source of an [`AnalysisRunArgument`] value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgumentValueFrom {
    /// The pod-template hash of the stable or the latest ReplicaSet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_template_hash_value: Option<ValueFromPodTemplateHash>,
    /// A field of the Rollout (`metadata.*` follows downward-API rules; other paths read the object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
}

string_enum! {
    /// Which ReplicaSet's pod-template hash an argument takes.
    pub enum ValueFromPodTemplateHash {
        Stable = "Stable",
        Latest = "Latest",
    }
}

/// Replaces every `{{tag}}` (spaces inside the braces are trimmed) with what `lookup` gives for the tag;
/// tags it has no value for are left as written, as is an unterminated `{{`.
pub fn substitute_placeholders(s: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
    if !s.contains("{{") {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match lookup(after[..end].trim()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Go's `intstr.IntOrString.IntValue()`: an int as-is, a string through `strconv.Atoi` with 0 on error.
///
/// Upstream reads metric `count` and the limits this way, so `"abc"` silently means 0.
pub fn int_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => s.parse::<i64>().unwrap_or(0),
    }
}
