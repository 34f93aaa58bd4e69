//! A plain-Rust mirror of the WIT `value` tree (`serin:plugin/types.value`), built from JSON or numbers; each
//! plugin maps [`Node`] one-to-one onto its generated bindings.

/// One node of a flattened value tree; children are indices into the same list and always follow their parent.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    Array(Vec<u32>),
    Map(Vec<(String, u32)>),
}

/// Flattens a JSON value the way Go's `json.Unmarshal` into `interface{}` types it: every number is a float64.
pub fn from_json(v: &serde_json::Value) -> Vec<Node> {
    let mut nodes = Vec::new();
    push_json(&mut nodes, v);
    nodes
}

fn push_json(nodes: &mut Vec<Node>, v: &serde_json::Value) -> u32 {
    use serde_json::Value;
    let index = nodes.len();
    nodes.push(Node::Null);
    let node = match v {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Boolean(*b),
        Value::Number(n) => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Node::Text(s.clone()),
        Value::Array(items) => Node::Array(items.iter().map(|item| push_json(nodes, item)).collect()),
        Value::Object(map) => {
            Node::Map(map.iter().map(|(k, item)| (k.clone(), push_json(nodes, item))).collect())
        }
    };
    nodes[index] = node;
    index as u32
}

/// A list of float64 (Prometheus vectors and matrices), as Go's `[]float64`.
pub fn float_list(values: &[f64]) -> Vec<Node> {
    let mut nodes = Vec::with_capacity(values.len() + 1);
    nodes.push(Node::Array((1..=values.len() as u32).collect()));
    nodes.extend(values.iter().map(|f| Node::Float(*f)));
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_follow_parents() {
        let v: serde_json::Value = serde_json::from_str(r#"{"a":[1,2],"b":"x"}"#).unwrap();
        let nodes = from_json(&v);
        assert_eq!(nodes[0], Node::Map(vec![("a".into(), 1), ("b".into(), 4)]));
        assert_eq!(nodes[1], Node::Array(vec![2, 3]));
        assert_eq!(nodes[2], Node::Float(1.0));
        assert_eq!(nodes[4], Node::Text("x".into()));
    }
}
