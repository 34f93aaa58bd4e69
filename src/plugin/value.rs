//! Measured values as the host holds them (Argo's `result`), and their conversion to and from the flattened
//! value tree every contract version carries (each version's bindings map their `value-node` onto [`Node`]).

/// One node of a flattened value tree, as the contract's `value-node`.
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

/// Deepest value accepted from a plugin; deeper trees are malformed output.
pub const MAX_DEPTH: usize = 64;

/// A measured value: what Argo's success and failure conditions see as `result`. Numbers decoded from JSON are
/// floats, as Go's `json.Unmarshal` into `interface{}` makes them.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<MetricValue>),
    Map(Vec<(String, MetricValue)>),
}

impl MetricValue {
    /// Rebuilds a value from the flattened WIT tree, refusing malformed trees (children must follow their parent).
    pub fn from_nodes(nodes: &[Node]) -> Result<MetricValue, String> {
        if nodes.is_empty() {
            return Ok(MetricValue::Nil);
        }
        check_tree(nodes)?;
        from_node(nodes, 0, 0)
    }

    /// Flattens the value into a tree of nodes (node 0 is the root).
    pub fn to_nodes(&self) -> Vec<Node> {
        let mut nodes = Vec::new();
        push_node(&mut nodes, self);
        nodes
    }

    /// Decodes JSON as Go decodes it into `interface{}`: every number becomes a float.
    pub fn from_json(v: &serde_json::Value) -> MetricValue {
        use serde_json::Value;
        match v {
            Value::Null => MetricValue::Nil,
            Value::Bool(b) => MetricValue::Bool(*b),
            Value::Number(n) => MetricValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => MetricValue::Text(s.clone()),
            Value::Array(items) => MetricValue::List(items.iter().map(MetricValue::from_json).collect()),
            Value::Object(map) => {
                MetricValue::Map(map.iter().map(|(k, v)| (k.clone(), MetricValue::from_json(v))).collect())
            }
        }
    }

    /// Parses JSON that may also contain the bare numbers `NaN`, `Inf`, `+Inf` and `-Inf` (which Prometheus
    /// produces and JSON cannot carry), e.g. `[0.5, NaN]`.
    pub fn parse(text: &str) -> Result<MetricValue, String> {
        const MARK: &str = "\u{1}serin-special-float\u{1}";
        const MARK_JSON: &str = "\\u0001serin-special-float\\u0001";
        let mut rewritten = String::with_capacity(text.len());
        let mut in_string = false;
        let mut escaped = false;
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if in_string {
                rewritten.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
                rest = &rest[c.len_utf8()..];
                continue;
            }
            if c == '"' {
                in_string = true;
            }
            let special = ["NaN", "+Inf", "-Inf", "Inf"].into_iter().find(|s| rest.starts_with(s));
            if let Some(s) = special {
                rewritten.push_str(&format!("\"{MARK_JSON}{s}\""));
                rest = &rest[s.len()..];
                continue;
            }
            rewritten.push(c);
            rest = &rest[c.len_utf8()..];
        }
        let json: serde_json::Value =
            serde_json::from_str(&rewritten).map_err(|e| format!("invalid result JSON: {e}"))?;
        Ok(restore_specials(MetricValue::from_json(&json), MARK))
    }

    /// The measurement value as Argo stores it: `json.Marshal` of the value, Go number formatting included.
    pub fn render(&self) -> String {
        let mut out = String::new();
        render_into(&mut out, self);
        out
    }

    /// Bytes of text the value carries (for the output cap).
    pub fn text_size(&self) -> usize {
        match self {
            MetricValue::Text(s) => s.len(),
            MetricValue::List(items) => items.iter().map(MetricValue::text_size).sum::<usize>() + items.len(),
            MetricValue::Map(entries) => entries.iter().map(|(k, v)| k.len() + v.text_size()).sum(),
            _ => 8,
        }
    }
}

fn restore_specials(v: MetricValue, mark: &str) -> MetricValue {
    match v {
        MetricValue::Text(s) => match s.strip_prefix(mark) {
            Some("NaN") => MetricValue::Float(f64::NAN),
            Some("-Inf") => MetricValue::Float(f64::NEG_INFINITY),
            Some(_) => MetricValue::Float(f64::INFINITY),
            None => MetricValue::Text(s),
        },
        MetricValue::List(items) => {
            MetricValue::List(items.into_iter().map(|i| restore_specials(i, mark)).collect())
        }
        MetricValue::Map(entries) => {
            MetricValue::Map(entries.into_iter().map(|(k, v)| (k, restore_specials(v, mark))).collect())
        }
        other => other,
    }
}

/// A value must be a tree: every node but the root is the child of exactly one earlier node. Shared children
/// would let a few hundred bytes of output expand exponentially here.
fn check_tree(nodes: &[Node]) -> Result<(), String> {
    let mut parent = vec![false; nodes.len()];
    for (index, node) in nodes.iter().enumerate() {
        let children: Box<dyn Iterator<Item = u32> + '_> = match node {
            Node::Array(c) => Box::new(c.iter().copied()),
            Node::Map(e) => Box::new(e.iter().map(|(_, c)| *c)),
            _ => continue,
        };
        for c in children {
            let c = c as usize;
            if c <= index || c >= nodes.len() {
                return Err(format!(
                    "value node {index} refers to node {c}, which is not a later node of the tree"
                ));
            }
            if std::mem::replace(&mut parent[c], true) {
                return Err(format!("value node {c} has more than one parent; a value must be a tree"));
            }
        }
    }
    if let Some(orphan) = parent.iter().skip(1).position(|p| !p) {
        return Err(format!("value node {} is not part of the tree", orphan + 1));
    }
    Ok(())
}

fn from_node(nodes: &[Node], index: usize, depth: usize) -> Result<MetricValue, String> {
    if depth > MAX_DEPTH {
        return Err(format!("value tree nested deeper than {MAX_DEPTH} levels"));
    }
    let child = |c: u32| -> Result<MetricValue, String> {
        let c = c as usize;
        if c <= index || c >= nodes.len() {
            return Err(format!(
                "value node {index} refers to node {c}, which is not a later node of the tree"
            ));
        }
        from_node(nodes, c, depth + 1)
    };
    Ok(match &nodes[index] {
        Node::Null => MetricValue::Nil,
        Node::Boolean(b) => MetricValue::Bool(*b),
        Node::Integer(i) => MetricValue::Int(*i),
        Node::Float(f) => MetricValue::Float(*f),
        Node::Text(s) => MetricValue::Text(s.clone()),
        Node::Array(children) => {
            MetricValue::List(children.iter().map(|c| child(*c)).collect::<Result<_, _>>()?)
        }
        Node::Map(entries) => MetricValue::Map(
            entries.iter().map(|(k, c)| Ok((k.clone(), child(*c)?))).collect::<Result<_, String>>()?,
        ),
    })
}

fn push_node(nodes: &mut Vec<Node>, v: &MetricValue) -> u32 {
    let index = nodes.len();
    nodes.push(Node::Null);
    let node = match v {
        MetricValue::Nil => Node::Null,
        MetricValue::Bool(b) => Node::Boolean(*b),
        MetricValue::Int(i) => Node::Integer(*i),
        MetricValue::Float(f) => Node::Float(*f),
        MetricValue::Text(s) => Node::Text(s.clone()),
        MetricValue::List(items) => Node::Array(items.iter().map(|i| push_node(nodes, i)).collect()),
        MetricValue::Map(entries) => {
            Node::Map(entries.iter().map(|(k, v)| (k.clone(), push_node(nodes, v))).collect())
        }
    };
    nodes[index] = node;
    index as u32
}

fn render_into(out: &mut String, v: &MetricValue) {
    match v {
        MetricValue::Nil => out.push_str("null"),
        MetricValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        MetricValue::Int(i) => out.push_str(&i.to_string()),
        MetricValue::Float(f) => out.push_str(&serin_gofmt::format_float_json(*f)),
        MetricValue::Text(s) => serin_gofmt::write_string(out, s),
        MetricValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_into(out, item);
            }
            out.push(']');
        }
        MetricValue::Map(entries) => {
            let mut sorted: Vec<&(String, MetricValue)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                serin_gofmt::write_string(out, k);
                out.push(':');
                render_into(out, v);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_prometheus_specials_outside_strings() {
        let v = MetricValue::parse(r#"[0.5, NaN, +Inf, -Inf, "NaN"]"#).unwrap();
        let MetricValue::List(items) = v else { panic!("not a list") };
        assert_eq!(items[0], MetricValue::Float(0.5));
        assert!(matches!(items[1], MetricValue::Float(f) if f.is_nan()));
        assert_eq!(items[2], MetricValue::Float(f64::INFINITY));
        assert_eq!(items[3], MetricValue::Float(f64::NEG_INFINITY));
        assert_eq!(items[4], MetricValue::Text("NaN".into()));
    }

    #[test]
    fn tree_round_trip_keeps_structure() {
        let v = MetricValue::parse(r#"{"a":[1,{"b":null}],"c":"x"}"#).unwrap();
        assert_eq!(MetricValue::from_nodes(&v.to_nodes()).unwrap(), v);
    }

    #[test]
    fn malformed_trees_are_refused() {
        let cyclic = vec![Node::Array(vec![0])];
        assert!(MetricValue::from_nodes(&cyclic).unwrap_err().contains("not a later node"));
        let dangling = vec![Node::Array(vec![5])];
        assert!(MetricValue::from_nodes(&dangling).is_err());
        // 65 nodes whose children are shared would expand to 2^64 leaves: refused at once.
        let mut nodes: Vec<Node> = (0..64).map(|i| Node::Array(vec![i + 1, i + 1])).collect();
        nodes.push(Node::Null);
        assert!(MetricValue::from_nodes(&nodes).unwrap_err().contains("more than one parent"));
        let orphan = vec![Node::Null, Node::Null];
        assert!(MetricValue::from_nodes(&orphan).unwrap_err().contains("not part of the tree"));
    }

    #[test]
    fn render_matches_go_json() {
        let v = MetricValue::parse(r#"{"b":1,"a":[0.25,1e21,"<"]}"#).unwrap();
        assert_eq!(v.render(), r#"{"a":[0.25,1e+21,"\u003c"],"b":1}"#);
    }
}
