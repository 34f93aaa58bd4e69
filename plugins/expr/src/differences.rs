// Where serin deliberately answers differently from Argo Rollouts (Go's expr): the host's parity test checks
// that Go still answers otherwise, and the plugin's unit tests that serin answers this. Nesting deeper than
// serin accepts (`expression too deeply nested`) is tested apart: those expressions are too long for a table.

/// (successCondition, failureCondition, result JSON, serin's outcome, why).
pub const DIFFERENCES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "now() > 0",
        "",
        "1",
        "Error: could not evaluate successCondition \"now() > 0\": builtin now is not supported",
        "the time builtins (now, duration, date, timezone) are not implemented",
    ),
    (
        "duration(\"1s\") > 0",
        "",
        "1",
        "Error: could not evaluate successCondition \"duration(\"1s\") > 0\": builtin duration is not supported",
        "the time builtins (now, duration, date, timezone) are not implemented",
    ),
    (
        "groupBy(result, #)",
        "",
        "[1]",
        "Error: could not evaluate successCondition \"groupBy(result, #)\": builtin groupBy is not supported",
        "groupBy, toPairs and fromPairs make maps keyed by any value; serin's maps have string keys",
    ),
    (
        "\"a\" matches \"[a\" + \"\"",
        "",
        "1",
        "Error: could not evaluate successCondition \"\"a\" matches \"[a\" + \"\"\": error parsing regexp: missing closing ]: `[a`",
        "Go's compiler panics on an invalid pattern that constant folding made literal, and the message it \
         returns carries the goroutine's stack trace; serin gives the message alone",
    ),
    (
        "asInt($env)",
        "",
        "1",
        "Error: could not evaluate successCondition \"asInt($env)\": asInt() not supported on map[string]interface {} \
         map[asFloat:0x0 asInt:0x0 default:0x0 isInf:0x0 isNaN:0x0 isNil:0x0 result:1]",
        "Go prints a function value as its address in memory; serin has none to print",
    ),
    (
        "$env[ceil(1, 2)] == nil",
        "",
        "1",
        "Error: could not evaluate successCondition \"$env[ceil(1, 2)] == nil\": reflect.Value.MapIndex: value of \
         type float64 is not assignable to type string",
        "Go does not check an index into `$env`, and its VM then calls a one-argument builtin given two with the \
         second, leaving the first on its stack for the next operation; serin evaluates what was written",
    ),
];
