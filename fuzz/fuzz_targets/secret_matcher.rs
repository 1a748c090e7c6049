//! Arbitrary bytes through the secret rules (the keyword prefilter, the windows, the regexes,
//! entropy and checksums) as file content and as a path; every match must lie inside the input
//! and its redaction must not show the secret.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rharden_scan::secrets::rules::RuleSet;

fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| RuleSet::builtin().expect("built-in rules"))
}

fuzz_target!(|data: &[u8]| {
    let rules = rules();
    for m in rules.scan(data) {
        assert!(
            m.start <= m.end && m.end <= data.len(),
            "match outside the input"
        );
        let whole = &data[m.start..m.end];
        assert!(
            whole
                .windows(m.secret.len().max(1))
                .any(|w| w == &m.secret[..])
                || m.secret.is_empty(),
            "the secret is not part of its match"
        );
        let shown = rharden_scan::finding::redact(&m.secret);
        if m.secret.len() >= 16 {
            assert!(
                !shown
                    .as_bytes()
                    .windows(m.secret.len())
                    .any(|w| w == &m.secret[..]),
                "redaction shows the whole secret"
            );
        }
    }
    let _ = rules.match_path(data).count();
});
