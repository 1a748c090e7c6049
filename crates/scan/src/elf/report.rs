//! What one ELF file proves about its hardening, read from its headers, dynamic section,
//! symbol tables and notes. Every verdict is what the file proves: when it proves neither
//! way the verdict is `unknown` and `reasons` says why.

use std::collections::BTreeSet;

use goblin::elf::dynamic::{
    DF_1_NOW, DF_1_PIE, DF_BIND_NOW, DT_BIND_NOW, DT_DEBUG, DT_RPATH, DT_RUNPATH,
};
use goblin::elf::header::{EM_386, EM_X86_64, ET_CORE, ET_DYN, ET_EXEC, ET_REL};
use goblin::elf::program_header::{PF_X, PT_GNU_RELRO, PT_GNU_STACK};
use goblin::elf::section_header::{SHN_UNDEF, SHT_SYMTAB};
use goblin::elf::sym::{STT_FUNC, STT_GNU_IFUNC};
use goblin::elf::Symtab;
use serde::Serialize;

use crate::elf::parsed::{Names, Parsed};
use crate::elf::{canary, note};

/// The four bytes every ELF file starts with.
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Symbols whose import proves the stack protector: the failure handler, the guard (aarch64,
/// ppc, i386 with `-mstack-protector-guard=global`) and Intel's compiler's cookie.
const CANARY_SYMBOLS: [&str; 3] = [
    "__stack_chk_fail",
    "__stack_chk_guard",
    "__intel_security_cookie",
];
/// What every name [`SymbolUse`] keeps starts with.
const KEPT_PREFIX: &[u8] = b"__";

/// Why an ELF file could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("failed to parse the file as ELF: it does not start with \\x7fELF")]
    NotElf,
    #[error("failed to parse the ELF headers and tables")]
    Parse(#[source] goblin::error::Error),
    #[error("failed to parse the ELF headers and tables: the parser panicked")]
    ParserPanicked,
}

/// A protection that the file proves present, proves absent, or does not prove either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Yes,
    No,
    Unknown,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Unknown => "unknown",
        }
    }
}

/// Position-independence: a PIE executable, a fixed-address one, or a shared library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pie {
    Yes,
    No,
    Dso,
    /// Not a loadable file (an object file or a core dump).
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Pie {
    pub fn name(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Dso => "dso",
            Self::NotApplicable => "n/a",
        }
    }
}

/// RELRO: none, `PT_GNU_RELRO` alone (the PLT GOT stays writable), or with eager binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relro {
    None,
    Partial,
    Full,
}

impl Relro {
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Partial => "partial",
            Self::Full => "full",
        }
    }
}

/// Intel CET as marked in `GNU_PROPERTY_X86_FEATURE_1_AND`: both features, one, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cet {
    /// IBT and SHSTK.
    Yes,
    Ibt,
    Shstk,
    No,
    /// Not an x86 file: CET does not exist there.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Cet {
    pub fn name(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::Ibt => "ibt",
            Self::Shstk => "shstk",
            Self::No => "no",
            Self::NotApplicable => "n/a",
        }
    }
}

/// The ELF file type (`e_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    Exec,
    Dyn,
    Rel,
    Core,
    Other,
}

impl ObjectType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Exec => "exec",
            Self::Dyn => "dyn",
            Self::Rel => "rel",
            Self::Core => "core",
            Self::Other => "other",
        }
    }

    /// Whether the loader maps it (an executable or a shared library): only those are judged.
    pub fn is_loadable(self) -> bool {
        matches!(self, Self::Exec | Self::Dyn)
    }
}

/// The hardening of one ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfReport {
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// `e_machine` as a name (`X86_64`, `AARCH64`, …).
    pub machine: &'static str,
    /// 32 or 64.
    pub bits: u8,
    pub pie: Pie,
    pub relro: Relro,
    /// A non-executable stack.
    pub nx: Verdict,
    pub canary: Verdict,
    pub fortify: Verdict,
    /// The fortified (`__*_chk`) functions the file calls, sorted.
    pub fortified: Vec<String>,
    /// `DT_RPATH` / `DT_RUNPATH`, split at `:` (empty entries kept: they mean the working directory).
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub cet: Cet,
    /// No interpreter, no `DT_NEEDED` and no imported symbol: everything it runs is inside the file.
    #[serde(rename = "static")]
    pub is_static: bool,
    /// No `.symtab`.
    pub stripped: bool,
    pub interpreter: Option<String>,
    /// Why each `unknown` (or surprising) verdict is what it is: `"canary: …"`.
    pub reasons: Vec<String>,
}

/// Judges one whole ELF file.
pub fn analyze(bytes: &[u8]) -> Result<ElfReport, ElfError> {
    if !bytes.starts_with(ELF_MAGIC) {
        return Err(ElfError::NotElf);
    }
    // goblin checks counts and offsets against the buffer, but it is a parser of hostile
    // input written without a fuzzing guarantee: a panic in it must not end the scan.
    let elf = std::panic::catch_unwind(|| Parsed::parse(bytes))
        .map_err(|_| ElfError::ParserPanicked)?
        .map_err(ElfError::Parse)?;
    let mut reasons = Vec::new();

    let object_type = match elf.header.e_type {
        ET_EXEC => ObjectType::Exec,
        ET_DYN => ObjectType::Dyn,
        ET_REL => ObjectType::Rel,
        ET_CORE => ObjectType::Core,
        _ => ObjectType::Other,
    };
    let machine = elf.header.e_machine;
    let x86 = machine == EM_X86_64 || machine == EM_386;
    let dyns = elf.dynamic.as_ref().map_or(&[][..], |d| d.dyns.as_slice());
    let has_tag = |tag: u64| dyns.iter().any(|d| d.d_tag == tag);
    let (flags, flags_1) = elf
        .dynamic
        .as_ref()
        .map_or((0, 0), |d| (d.info.flags, d.info.flags_1));
    let segment = |kind: u32| elf.program_headers.iter().find(|p| p.p_type == kind);
    // Self-contained: no loader, no libraries, and nothing to import (a plugin without
    // DT_NEEDED still takes its symbols from the process: it is not static).
    let imports_any = elf.dynsyms.iter().any(|sym| {
        sym.st_shndx == SHN_UNDEF as usize
            && elf.dynstr.get(sym.st_name).is_some_and(|n| !n.is_empty())
    });
    let is_static = elf.interpreter.is_none() && !elf.needs_libraries() && !imports_any;
    let stripped = !elf.section_headers.iter().any(|s| s.sh_type == SHT_SYMTAB);

    let pie = match object_type {
        ObjectType::Exec => Pie::No,
        // A PIE executable and a shared library are both ET_DYN. DF_1_PIE says so outright
        // (binutils ≥ 2.26); without it, a soname makes a library (libc.so.6 has an
        // interpreter too: it can be run), and an interpreter or DT_DEBUG an executable.
        ObjectType::Dyn if flags_1 & DF_1_PIE != 0 => Pie::Yes,
        ObjectType::Dyn if elf.has_soname() => Pie::Dso,
        ObjectType::Dyn if elf.interpreter.is_some() || has_tag(DT_DEBUG) => Pie::Yes,
        ObjectType::Dyn => Pie::Dso,
        _ => Pie::NotApplicable,
    };

    let bind_now = has_tag(DT_BIND_NOW) || flags & DF_BIND_NOW != 0 || flags_1 & DF_1_NOW != 0;
    let relro = match (segment(PT_GNU_RELRO).is_some(), bind_now) {
        (false, _) => Relro::None,
        (true, false) => Relro::Partial,
        (true, true) => Relro::Full,
    };

    let nx = match segment(PT_GNU_STACK) {
        Some(stack) if stack.p_flags & PF_X != 0 => Verdict::No,
        Some(_) => Verdict::Yes,
        None if x86 => {
            reasons.push(
                "nx: no PT_GNU_STACK: the kernel maps the stack executable on x86".to_owned(),
            );
            Verdict::No
        }
        None => {
            reasons.push(format!(
                "nx: no PT_GNU_STACK: the default stack permission on {} depends on the kernel",
                goblin::elf::header::machine_to_str(machine)
            ));
            Verdict::Unknown
        }
    };

    let dynamic = SymbolUse::of(&elf.dynsyms, elf.dynstr);
    let embedded = SymbolUse::of(&elf.syms, elf.strtab);

    let canary = if CANARY_SYMBOLS.iter().any(|s| dynamic.imported.contains(*s)) {
        Verdict::Yes
    } else if let Some(proof) = canary::static_proof(&elf, bytes) {
        // Without an import, the handler is inside the file: only code reading the guard proves it.
        reasons.push(format!("canary: {proof}"));
        Verdict::Yes
    } else if let Some(own) = CANARY_SYMBOLS
        .iter()
        .find(|s| dynamic.defined.contains(**s))
    {
        reasons.push(format!(
            "canary: the file defines {own} itself (the C library): whether its own code checks a canary is not recorded"
        ));
        Verdict::Unknown
    } else if CANARY_SYMBOLS.iter().any(|s| embedded.defined.contains(*s)) {
        reasons.push(if is_static {
            "canary: static binary embeds libc's __stack_chk_fail: its presence proves nothing about the program's own code".to_owned()
        } else {
            "canary: the file carries its own __stack_chk_fail (a statically linked C library): it proves nothing about the program's code".to_owned()
        });
        Verdict::Unknown
    } else if !is_static {
        // A dynamic file whose code checks a canary must import the failure handler.
        Verdict::No
    } else if stripped {
        reasons.push(
            "canary: stripped static binary: no symbols to tell whether any code checks a canary"
                .to_owned(),
        );
        Verdict::Unknown
    } else {
        // Static linking pulls in only what something calls: no handler, no check anywhere.
        Verdict::No
    };

    // FORTIFY: calls to `__*_chk`. Imported in a dynamic file; embedded (and so called by
    // something: static linking pulls in only what is used) in a static one.
    let (fortify, fortified) = if !dynamic.imported_chk.is_empty() {
        (Verdict::Yes, dynamic.imported_chk.clone())
    } else if dynamic.defined_chk.len() > 1 {
        reasons.push(
            "fortify: the file defines the __*_chk functions itself (the C library)".to_owned(),
        );
        (Verdict::Unknown, BTreeSet::new())
    } else if !is_static {
        (Verdict::No, BTreeSet::new())
    } else if !embedded.defined_chk.is_empty() {
        reasons.push(
            "fortify: static binary: the fortified functions are linked in, so something calls them".to_owned(),
        );
        (Verdict::Yes, embedded.defined_chk.clone())
    } else if stripped {
        reasons
            .push("fortify: stripped static binary: no symbols to find fortified calls".to_owned());
        (Verdict::Unknown, BTreeSet::new())
    } else {
        (Verdict::No, BTreeSet::new())
    };

    let cet = if !x86 {
        Cet::NotApplicable
    } else {
        match note::x86_features(&elf, bytes) {
            Some(bits) => match (
                bits & note::X86_FEATURE_1_IBT != 0,
                bits & note::X86_FEATURE_1_SHSTK != 0,
            ) {
                (true, true) => Cet::Yes,
                (true, false) => Cet::Ibt,
                (false, true) => Cet::Shstk,
                (false, false) => Cet::No,
            },
            None => Cet::No,
        }
    };

    Ok(ElfReport {
        object_type,
        machine: goblin::elf::header::machine_to_str(machine),
        bits: if elf.is_64 { 64 } else { 32 },
        pie,
        relro,
        nx,
        canary,
        fortify,
        fortified: fortified.into_iter().collect(),
        rpath: split_paths(&elf.search_paths(DT_RPATH)),
        runpath: split_paths(&elf.search_paths(DT_RUNPATH)),
        cet,
        is_static,
        stripped,
        interpreter: elf.interpreter.map(str::to_owned),
        reasons,
    })
}

/// The canary and fortify symbols of one symbol table, imported or defined.
#[derive(Debug, Default)]
struct SymbolUse {
    imported: BTreeSet<String>,
    defined: BTreeSet<String>,
    imported_chk: BTreeSet<String>,
    defined_chk: BTreeSet<String>,
}

impl SymbolUse {
    fn of(symbols: &Symtab<'_>, names: Names<'_>) -> Self {
        let mut used = Self::default();
        for sym in symbols.iter() {
            // Most names are not wanted: the prefix rules them out without reading them.
            if !names.starts_with(sym.st_name, KEPT_PREFIX) {
                continue;
            }
            let Some(name) = names.text(sym.st_name) else {
                continue;
            };
            let imported = sym.st_shndx == SHN_UNDEF as usize;
            if CANARY_SYMBOLS.contains(&name) {
                let set = if imported {
                    &mut used.imported
                } else {
                    &mut used.defined
                };
                set.insert(name.to_owned());
            } else if is_fortified(name)
                && (imported || matches!(sym.st_type(), STT_FUNC | STT_GNU_IFUNC))
            {
                let set = if imported {
                    &mut used.imported_chk
                } else {
                    &mut used.defined_chk
                };
                // glibc's internal aliases (`___printf_chk`) count as the function they alias.
                set.insert(format!("__{}", name.trim_start_matches('_')));
            }
        }
        used
    }
}

/// `__printf_chk`, `__memcpy_chk`, `__longjmp_chk`: glibc's checked variants that
/// `_FORTIFY_SOURCE` substitutes. Symbol versions (`@GLIBC_2.3.4`) are not part of the name.
fn is_fortified(name: &str) -> bool {
    name.len() > "___chk".len() && name.starts_with("__") && name.ends_with("_chk")
}

/// Each `DT_RPATH`/`DT_RUNPATH` string split at `:`.
fn split_paths(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(':'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortified_names_are_the_checked_variants_only() {
        assert!(is_fortified("__printf_chk"));
        assert!(is_fortified("__longjmp_chk"));
        assert!(!is_fortified("__stack_chk_fail"));
        assert!(!is_fortified("__chk_fail"));
        assert!(!is_fortified("___chk"));
        assert!(!is_fortified("printf_chk"));
    }

    #[test]
    fn paths_split_at_colons_keeping_empty_entries() {
        assert_eq!(split_paths(&["/a:/b", "$ORIGIN"]), ["/a", "/b", "$ORIGIN"]);
        assert_eq!(split_paths(&["/a::"]), ["/a", "", ""]);
    }

    #[test]
    fn hostile_headers_are_errors_not_panics() {
        assert!(matches!(analyze(b""), Err(ElfError::NotElf)));
        assert!(matches!(analyze(b"\x7fEL"), Err(ElfError::NotElf)));
        assert!(analyze(b"\x7fELF").is_err());
        let mut garbage = b"\x7fELF".to_vec();
        garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        // Either outcome is fine: returning at all is the point.
        let _ = analyze(&garbage);
    }
}
