//! Arbitrary text as a seccomp profile (rharden's or Docker's format), compiled to BPF when it
//! parses (never installed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rharden_sandbox::{compile_seccomp, ProfileContext, SeccompProfile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = ProfileContext {
        caps: Vec::new(),
        kernel: (6, 1),
    };
    if let Ok(profile) = SeccompProfile::from_json("fuzz.json", text, &ctx) {
        let _ = profile.summary();
        let _ = compile_seccomp(&profile);
    }
});
