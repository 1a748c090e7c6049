//! Arbitrary bytes as a scan policy: a typed error or a policy that can be used.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rharden_scan::Policy;

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = Policy::parse(Path::new("fuzz.json"), data) {
        let _ = policy.describe();
        let _ = policy.allows_at("aws-access-key-id", "secret", b"etc/secret.pem");
        let _ = policy.allows_rule("github-pat-classic");
    }
});
