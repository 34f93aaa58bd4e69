//! Hostile input never panics, hangs or exhausts memory: junk bytes, truncations, bombs, deep nesting.

use std::time::{Duration, Instant};

use serin::api::decode::MAX_INPUT_BYTES;
use serin::api::lint::{LintOptions, Report, Severity, lint_source};

use super::support::{corpus_root, plain_manifests};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn lint(bytes: &[u8]) -> Report {
    lint_source("fuzz.yaml", bytes, LintOptions::default())
}

fn assert_quick_error(name: &str, bytes: &[u8]) -> Report {
    let start = Instant::now();
    let report = lint(bytes);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(20), "{name}: took {took:?}");
    assert!(report.count(Severity::Error) > 0, "{name}: accepted: {:?}", report.findings);
    report
}

#[test]
fn random_bytes_and_yaml_shaped_junk_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let alphabet: &[u8] = b"{}[]:,-?|>!&*#%@`'\" \t\n\r.0123456789abcdefkindapiVersionspec\\~";
    for round in 0..3000 {
        let len = rng.below(600);
        let bytes: Vec<u8> = if round % 2 == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect()
        };
        let report = lint(&bytes);
        assert!(report.exit_code() <= 1, "round {round}: unreadable?");
    }
}

#[test]
fn junk_inside_a_valid_rollout_never_panics() {
    let base =
        std::fs::read_to_string(corpus_root().join("examples/rollout-canary.yaml")).expect("corpus file");
    let mut rng = Rng(42);
    let junk = [
        "",
        "null",
        "[",
        "]",
        "{",
        "}",
        ": :",
        "- -",
        "&a",
        "*a",
        "!!binary x",
        "\"",
        "'",
        "0x",
        "1e999",
        "\u{0}",
    ];
    for _ in 0..1500 {
        let mut text = base.clone().into_bytes();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(text.len() + 1);
            let piece = junk[rng.below(junk.len())].as_bytes();
            text.splice(at..at, piece.iter().copied());
        }
        let _ = lint(&text);
    }
}

#[test]
fn truncated_corpus_documents_never_panic() {
    let root = corpus_root();
    let mut checked = 0;
    for rel in plain_manifests(&root).into_iter().step_by(4) {
        let bytes = std::fs::read(root.join(&rel)).expect("corpus file");
        for cut in (0..bytes.len()).step_by(53) {
            let _ = lint(&bytes[..cut]);
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn wrong_types_are_decode_errors_with_paths() {
    let cases = [
        ("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\nspec: 5\n", Some("spec")),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\nspec: {strategy: {canary: {steps: {a: 1}}}}\n",
            Some("spec.strategy.canary.steps"),
        ),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata: {name: x}\nspec: {metrics: [{name: m, provider: {web: {url: [1]}}}]}\n",
            Some("spec.metrics[0].provider.web.url"),
        ),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: Experiment\nmetadata: []\nspec: {templates: []}\n",
            Some("metadata"),
        ),
        ("apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: x}\n", None),
        ("- just\n- a list\n", None),
        ("plain scalar\n", None),
    ];
    for (text, path) in cases {
        let report = assert_quick_error(text, text.as_bytes());
        let first = report.findings.iter().find(|f| f.severity == Severity::Error).expect("an error");
        assert_eq!(first.path.as_deref(), path, "{text}: {first}");
    }
}

#[test]
fn billion_laughs_is_bounded() {
    let mut text =
        String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (prev, name) in
        ["a", "b", "c", "d", "e", "f", "g", "h"].iter().zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let report = assert_quick_error("billion laughs", text.as_bytes());
    println!("billion laughs: {}", report.findings[0]);
}

#[test]
fn deep_nesting_is_bounded() {
    let flow = "[".repeat(100_000);
    assert_quick_error("deep flow nesting", flow.as_bytes());
    let mut block = String::new();
    for depth in 0..2_000 {
        block.push_str(&" ".repeat(depth));
        block.push_str("a:\n");
    }
    assert_quick_error("deep block nesting", block.as_bytes());
}

#[test]
fn huge_documents_are_bounded() {
    let mut many_nodes =
        String::from("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\nspec:\n  x:\n");
    for i in 0..300_000 {
        many_nodes.push_str(&format!("  - {i}\n"));
    }
    assert_quick_error("300k nodes", many_nodes.as_bytes());
    let too_big = vec![b'#'; MAX_INPUT_BYTES + 1];
    let report = assert_quick_error("oversized input", &too_big);
    assert!(report.findings[0].message.contains("larger than"), "{}", report.findings[0]);
}
