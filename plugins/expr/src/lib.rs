//! The built-in `expr` condition evaluator: Argo Rollouts' successCondition / failureCondition semantics.
//!
//! Conditions are written in the expression language Argo uses (Go's github.com/expr-lang/expr), implemented
//! here as Go's pipeline runs it: lexer and Pratt parser, type checker against the measurement's Go type,
//! optimizer, evaluator; with Argo's environment on top: `result`, `asInt`, `asFloat`, `isNaN`, `isInf`,
//! `isNil`, `default`.

mod argo;
mod builtins;
mod check;
mod eval;
mod goconv;
mod json;
mod lexer;
mod optimize;
mod parser;
mod re;
mod types;
mod value;

#[cfg(test)]
mod tests;

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    generate_all,
    world: "condition-evaluator-plugin",
});

use exports::serin::plugin::condition_evaluator::{Guest, Verdict};
use serin::plugin::types::{Value as WitValue, ValueNode};
use std::collections::BTreeMap;
use value::Value;

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
        argo::compile(&expression)
    }
}

export!(Expr);

/// Deepest value tree accepted; deeper input is refused rather than risking the guest's stack.
const MAX_DEPTH: usize = 64;

/// Rebuilds the flattened value tree. Children must come after their parent, which rules out cycles.
fn to_expr_value(value: &WitValue) -> Result<Value, String> {
    if value.nodes.is_empty() {
        return Ok(Value::Nil);
    }
    node(&value.nodes, 0, 0)
}

fn node(nodes: &[ValueNode], index: usize, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("result value is nested deeper than {MAX_DEPTH} levels"));
    }
    let child = |c: u32| -> Result<Value, String> {
        let c = c as usize;
        if c <= index || c >= nodes.len() {
            return Err(format!("result value node {index} refers to invalid child {c}"));
        }
        node(nodes, c, depth + 1)
    };
    Ok(match &nodes[index] {
        ValueNode::Null => Value::Nil,
        ValueNode::Boolean(b) => Value::Bool(*b),
        ValueNode::Integer(i) => Value::Int(*i),
        ValueNode::Float(f) => Value::Float(*f),
        ValueNode::Text(s) => Value::str(s),
        ValueNode::Array(items) => Value::array(items.iter().map(|c| child(*c)).collect::<Result<_, _>>()?)?,
        ValueNode::Map(entries) => {
            let mut m = BTreeMap::new();
            for (k, c) in entries {
                m.insert(k.clone(), child(*c)?);
            }
            Value::dict(m)?
        }
    })
}
