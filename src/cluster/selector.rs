//! Label and field selectors: parsing the query syntax and matching objects.

use std::collections::BTreeMap;

use serde_json::Value;

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// `key=value` / `key==value`.
    Eq(String, String),
    /// `key!=value` (also true when the label is absent).
    NotEq(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also true when absent).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>n` / `key<n` (integer comparison, as upstream's `gt`/`lt`).
    Gt(String, i64),
    /// `key<n`.
    Lt(String, i64),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(pub Vec<Requirement>);

fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
    });
    name_ok && prefix_ok
}

fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && v.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()))
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

fn parse_set(s: &str) -> Result<Vec<String>, String> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found '{}', expected: '('", s.trim()))?;
    let vals: Vec<String> =
        inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
    if vals.is_empty() {
        return Err("for 'in', 'notin' operators, values set can't be empty".into());
    }
    Ok(vals)
}

impl LabelSelector {
    /// Parses `labelSelector` query syntax; the error text follows upstream's `unable to parse requirement` style.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for part in split_top_level(s) {
            let p = part.trim();
            if p.is_empty() {
                return Err("found '', expected: identifier".into());
            }
            let req =
                if let Some(k) = p.strip_prefix('!') {
                    Requirement::DoesNotExist(k.trim().to_string())
                } else if let Some((k, v)) = p.split_once("!=") {
                    Requirement::NotEq(k.trim().into(), v.trim().into())
                } else if let Some((k, v)) = p.split_once("==") {
                    Requirement::Eq(k.trim().into(), v.trim().into())
                } else if let Some((k, v)) = p.split_once('=') {
                    Requirement::Eq(k.trim().into(), v.trim().into())
                } else if let Some(idx) = p.find(" notin ").or_else(|| p.find(" notin(")) {
                    Requirement::NotIn(p[..idx].trim().into(), parse_set(&p[idx + 7..])?)
                } else if let Some(idx) = p.find(" in ").or_else(|| p.find(" in(")) {
                    Requirement::In(p[..idx].trim().into(), parse_set(&p[idx + 4..])?)
                } else if let Some((k, v)) = p.split_once('>') {
                    let n = v.trim().parse().map_err(|_| {
                        format!("for 'Gt', 'Lt' operators, the value must be an integer: {v}")
                    })?;
                    Requirement::Gt(k.trim().into(), n)
                } else if let Some((k, v)) = p.split_once('<') {
                    let n = v.trim().parse().map_err(|_| {
                        format!("for 'Gt', 'Lt' operators, the value must be an integer: {v}")
                    })?;
                    Requirement::Lt(k.trim().into(), n)
                } else {
                    Requirement::Exists(p.to_string())
                };
            let (key, values): (&str, Vec<&String>) = match &req {
                Requirement::Eq(k, v) | Requirement::NotEq(k, v) => (k, vec![v]),
                Requirement::In(k, vs) | Requirement::NotIn(k, vs) => (k, vs.iter().collect()),
                Requirement::Exists(k)
                | Requirement::DoesNotExist(k)
                | Requirement::Gt(k, _)
                | Requirement::Lt(k, _) => (k, vec![]),
            };
            if !valid_label_key(key) {
                return Err(format!(
                    "unable to parse requirement: values[0][{key}]: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                ));
            }
            for v in values {
                if !valid_label_value(v) {
                    return Err(format!(
                        "unable to parse requirement: values[0][{key}]: Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                    ));
                }
            }
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether the selector is empty (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Matches a label map.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => labels.get(k) == Some(v),
            Requirement::NotEq(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
            Requirement::Gt(k, n) => {
                labels.get(k).and_then(|l| l.parse::<i64>().ok()).is_some_and(|l| l > *n)
            }
            Requirement::Lt(k, n) => {
                labels.get(k).and_then(|l| l.parse::<i64>().ok()).is_some_and(|l| l < *n)
            }
        })
    }

    /// Matches an object's `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.is_empty() || self.matches(&labels_of(obj))
    }

    /// Builds a selector from a `metav1.LabelSelector` object (`matchLabels` + `matchExpressions`).
    pub fn from_object(sel: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Requirement::Eq(k.clone(), v.as_str().unwrap_or_default().to_string()));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                reqs.push(match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                });
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// The query-string form (what `Scale.status.selector` carries).
    pub fn to_query(&self) -> String {
        let mut parts: Vec<String> = self
            .0
            .iter()
            .map(|r| match r {
                Requirement::Eq(k, v) => format!("{k}={v}"),
                Requirement::NotEq(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
                Requirement::Gt(k, n) => format!("{k}>{n}"),
                Requirement::Lt(k, n) => format!("{k}<{n}"),
            })
            .collect();
        parts.sort();
        parts.join(",")
    }
}

/// `metadata.labels` as a map (non-string values are ignored).
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

/// One field requirement: `path=value` or `path!=value`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRequirement {
    /// Dotted path, e.g. `status.phase`.
    pub field: String,
    /// Expected value.
    pub value: String,
    /// `!=` instead of `=`.
    pub negate: bool,
}

/// A parsed field selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(pub Vec<FieldRequirement>);

impl FieldSelector {
    /// Parses the query syntax; `supported` lists the extra fields this resource allows.
    /// The error is the field that is not supported, or a syntax message.
    pub fn parse(s: &str, supported: &[String]) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector(reqs));
        }
        for part in s.split(',') {
            let p = part.trim();
            let (field, value, negate) = if let Some((f, v)) = p.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = p.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = p.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!("invalid selector: '{s}'; can't understand '{p}'"));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !supported.iter().any(|f| f == field)
            {
                return Err(format!("field label not supported: {field}"));
            }
            reqs.push(FieldRequirement { field: field.to_string(), value: value.trim().to_string(), negate });
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the selector is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Matches an object; missing fields compare as the empty string, booleans and numbers by their text.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|r| {
            let mut cur = obj;
            for seg in r.field.split('.') {
                cur = cur.get(seg).unwrap_or(&Value::Null);
            }
            let actual = match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Object(_) if r.field == "source" => {
                    cur.get("component").and_then(Value::as_str).unwrap_or_default().to_string()
                }
                other => other.to_string(),
            };
            (actual == r.value) != r.negate
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selector_operators_match_like_upstream() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (web,db)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("missing notin (db)", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("app in (web, db),!missing", true),
            ("n>4", true),
            ("n<4", false),
        ];
        for (sel, want) in cases {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&l), want, "selector {sel:?}");
        }
    }

    #[test]
    fn label_selector_rejects_bad_syntax() {
        for bad in ["app=we b", "app in ()", "-app=x", "app=web,"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn field_selector_checks_supported_fields() {
        let supported = vec!["status.phase".to_string()];
        let s = FieldSelector::parse("metadata.name=a,status.phase!=Running", &supported).expect("parses");
        assert!(s.matches(&json!({"metadata": {"name": "a"}, "status": {"phase": "Pending"}})));
        assert!(!s.matches(&json!({"metadata": {"name": "a"}, "status": {"phase": "Running"}})));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", &supported).expect_err("unsupported"),
            "field label not supported: spec.foo"
        );
    }

    #[test]
    fn selector_object_round_trips_to_query() {
        let sel = LabelSelector::from_object(&json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}))
        .expect("valid");
        assert_eq!(sel.to_query(), "app=web,tier in (a,b)");
    }
}
