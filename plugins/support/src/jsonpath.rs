//! Kubernetes JSONPath templates (`{.status.ok}`, `{$.data[0].value}`, `{.items[?(@.name=="x")].v}`) as Argo's web
//! provider uses them: the template's single `{…}` expression is evaluated with `jsonpath-rust` and the first
//! match is the result.

use jsonpath_rust::JsonPath;

pub struct Template {
    path: String,
}

impl Template {
    pub fn parse(template: &str) -> Result<Template, String> {
        let t = template.trim();
        let inner = t
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .ok_or_else(|| format!("unsupported jsonPath {template:?}: expected one {{…}} expression"))?
            .trim();
        if inner.contains('{') || inner.starts_with("range") || inner.starts_with("end") {
            return Err(format!(
                "unsupported jsonPath {template:?}: templates with several expressions are not supported"
            ));
        }
        let path = if inner == "$" || inner.starts_with("$.") || inner.starts_with("$[") {
            inner.to_string()
        } else if inner.starts_with('.') || inner.starts_with('[') {
            format!("${inner}")
        } else {
            format!("$.{inner}")
        };
        // Validate once, so a bad expression is a clear error rather than "no value".
        serde_json::Value::Null.query(&path).map_err(|e| format!("invalid jsonPath {template:?}: {e}"))?;
        Ok(Template { path })
    }

    /// The first match, `None` when the path matched nothing.
    pub fn first_match<'a>(
        &self,
        data: &'a serde_json::Value,
    ) -> Result<Option<&'a serde_json::Value>, String> {
        let found = data.query(&self.path).map_err(|e| e.to_string())?;
        Ok(found.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_templates_select_the_first_match() {
        let data: serde_json::Value = serde_json::from_str(
            r#"{"data":{"ok":true,"rate":0.97},"items":[{"n":"a","v":1},{"n":"b","v":2}]}"#,
        )
        .unwrap();
        let cases = [
            ("{$}", Some(data.clone())),
            ("{$.data.ok}", Some(serde_json::json!(true))),
            ("{.data.rate}", Some(serde_json::json!(0.97))),
            ("{.items[1].v}", Some(serde_json::json!(2))),
            ("{.items[*].n}", Some(serde_json::json!("a"))),
            ("{.items[?(@.n=='b')].v}", Some(serde_json::json!(2))),
            ("{.missing}", None),
        ];
        for (template, want) in cases {
            let t = Template::parse(template).unwrap();
            assert_eq!(t.first_match(&data).unwrap().cloned(), want, "{template}");
        }
        assert!(Template::parse("no braces").is_err());
    }
}
