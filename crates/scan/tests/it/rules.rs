//! Every built-in rule's own examples: each true positive yields a finding of that rule, each
//! false positive yields none of it.

use std::path::Path;

use rharden_scan::secrets::rules::{RuleKind, RuleSet};

#[test]
fn every_rule_has_examples_and_they_hold() {
    let rules = RuleSet::builtin().expect("built-in rules compile");
    let mut failures = Vec::new();
    for (i, rule) in rules.rules.iter().enumerate() {
        if rule.tests.tp.is_empty() || rule.tests.fp.is_empty() {
            failures.push(format!(
                "{}: needs at least one tp and one fp example",
                rule.id
            ));
        }
        let fires = |text: &str| match rule.kind {
            RuleKind::Content => rules.scan(text.as_bytes()).iter().any(|m| m.rule == i),
            RuleKind::Path => rules.match_path(text.as_bytes()).any(|r| r == i),
        };
        for tp in &rule.tests.tp {
            if !fires(tp) {
                failures.push(format!("{}: missed tp {tp:?}", rule.id));
            }
        }
        for fp in &rule.tests.fp {
            if fires(fp) {
                failures.push(format!("{}: fired on fp {fp:?}", rule.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rules_file_problems_name_the_file_and_pointer() {
    let e = RuleSet::parse(
        Path::new("bad.json"),
        br#"{"version":1,"rules":[],"extra":1}"#,
    )
    .expect_err("unknown field");
    assert!(e.to_string().starts_with("bad.json"), "{e}");
}
