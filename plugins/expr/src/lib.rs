//! The built-in `expr` condition evaluator: Argo Rollouts' successCondition / failureCondition semantics.
//!
//! Conditions are expr-lang expressions (the `expr-lang` crate, a Rust implementation of the language Argo uses)
//! with Argo's environment on top: `result`, `asInt`, `asFloat`, `isNaN`, `isInf`, `isNil`, `default`.

mod argo;

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    generate_all,
    world: "condition-evaluator-plugin",
});

use exports::serin::plugin::condition_evaluator::{Guest, Verdict};
use serin::plugin::types::{Value as WitValue, ValueNode};

struct Expr;

impl Guest for Expr {
    fn evaluate(expression: String, result: WitValue) -> Result<bool, String> {
        let result = to_expr_value(&result)?;
        argo::eval_condition(&expression, &result)
    }

    fn assess(success: Option<String>, failure: Option<String>, result: WitValue) -> Result<Verdict, String> {
        let result = to_expr_value(&result)?;
        Ok(match argo::assess(success.as_deref(), failure.as_deref(), &result)? {
            argo::Verdict::Successful => Verdict::Successful,
            argo::Verdict::Failed => Verdict::Failed,
            argo::Verdict::Inconclusive => Verdict::Inconclusive,
        })
    }

    fn check(expression: String) -> Result<(), String> {
        expr::compile(&expression).map(|_| ()).map_err(|e| e.to_string())
    }
}

export!(Expr);

/// Deepest value tree accepted; deeper input is refused rather than risking the guest's stack.
const MAX_DEPTH: usize = 64;

/// Rebuilds the flattened value tree. Children must come after their parent, which rules out cycles.
fn to_expr_value(value: &WitValue) -> Result<expr::Value, String> {
    if value.nodes.is_empty() {
        return Ok(expr::Value::Nil);
    }
    node(&value.nodes, 0, 0)
}

fn node(nodes: &[ValueNode], index: usize, depth: usize) -> Result<expr::Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("result value is nested deeper than {MAX_DEPTH} levels"));
    }
    let child = |c: u32| -> Result<expr::Value, String> {
        let c = c as usize;
        if c <= index || c >= nodes.len() {
            return Err(format!("result value node {index} refers to invalid child {c}"));
        }
        node(nodes, c, depth + 1)
    };
    Ok(match &nodes[index] {
        ValueNode::Null => expr::Value::Nil,
        ValueNode::Boolean(b) => expr::Value::Bool(*b),
        ValueNode::Integer(i) => expr::Value::Integer(*i),
        ValueNode::Float(f) => expr::Value::Float(*f),
        ValueNode::Text(s) => expr::Value::String(s.clone()),
        ValueNode::Array(items) => {
            expr::Value::Array(items.iter().map(|c| child(*c)).collect::<Result<_, _>>()?)
        }
        ValueNode::Map(entries) => expr::Value::Map(
            entries
                .iter()
                .map(|(k, c)| Ok((k.clone(), child(*c)?)))
                .collect::<Result<indexmap::IndexMap<_, _>, String>>()?,
        ),
    })
}
