//! The ELF hardening analyzer (category `elf`). [`ElfSink`] judges every ELF file of a layer
//! as the walk streams it; [`findings`] keeps the files still present in the final
//! filesystem and reports, per binary, each protection it lacks: PIE, RELRO, a non-executable
//! stack, the stack protector, FORTIFY, CET, and unsafe `RPATH`/`RUNPATH` entries.
//!
//! A verdict is what the file proves. A static binary always embeds the C library's
//! `__stack_chk_fail`, so (unlike checksec) its presence is not taken as a canary: the verdict
//! is `unknown` with a reason unless `main` itself reads the stack guard.
//!
//! ```
//! let report = rharden_scan::elf::analyze(b"\x7fELF");
//! assert!(report.is_err()); // a truncated header is an error, never a panic
//! ```

mod canary;
mod findings;
mod note;
mod parsed;
mod report;
mod rpath;
mod sink;

pub use findings::{binaries, findings, Binary};
pub use report::{analyze, Cet, ElfError, ElfReport, ObjectType, Pie, Relro, Verdict, ELF_MAGIC};
pub use rpath::{insecure_entries, Insecure};
pub use sink::{ElfOutcome, ElfSink, NotAnalyzed, DEFAULT_CAP};
