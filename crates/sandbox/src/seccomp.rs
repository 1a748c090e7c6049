//! Compiles a [`SeccompProfile`] (the IR of `profile.rs`) into BPF programs with seccompiler.
//!
//! seccompiler's filters have exactly two outcomes (match / mismatch), so a profile with several
//! actions becomes a *stack* of filters. The kernel runs every installed filter and keeps the
//! most restrictive action (KILL > TRAP > ERRNO > LOG > ALLOW); between equally strict actions
//! the most recently installed filter wins (`seccomp_run_filters` in kernel/seccomp.c). So:
//!
//! 1. one filter per explicit non-default action (e.g. `clone3` → ENOSYS): its calls → that
//!    action, everything else → allow;
//! 2. a filter that kills x32 system calls (`__X32_SYSCALL_BIT`), which share
//!    `AUDIT_ARCH_X86_64` with native calls. Every seccompiler program also starts by killing
//!    the process on any other architecture (i386 `int 0x80`, …);
//! 3. last, the allowlist: listed calls (with their argument conditions) → allow, else the
//!    default. It also lets through the calls of step 1, so their own action is the one that
//!    remains. Installing it last keeps `seccomp(2)` callable while the stack is built, even
//!    for a profile that denies it.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::profile::{Action, ArgOp, Rule, SeccompProfile};

/// Compiled filters, in installation order.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    /// The BPF programs, installed first to last.
    pub programs: Vec<BpfProgram>,
    /// One line for the report.
    pub summary: String,
}

/// Why a profile could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// seccompiler refused a rule or filter.
    #[error("failed to compile seccomp rule for {syscall}")]
    Rule {
        /// The system call whose rule failed.
        syscall: String,
        /// Why.
        #[source]
        source: seccompiler::BackendError,
    },
    /// seccompiler could not produce BPF.
    #[error("failed to compile seccomp filter for action {action:?}")]
    Filter {
        /// The action of the filter.
        action: Action,
        /// Why.
        #[source]
        source: seccompiler::BackendError,
    },
    /// This architecture is not supported by the compiler.
    #[error("failed to compile seccomp filter: architecture {0} is not supported")]
    Arch(&'static str),
}

fn target_arch() -> Result<TargetArch, SeccompError> {
    if cfg!(target_arch = "x86_64") {
        Ok(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Ok(TargetArch::aarch64)
    } else {
        Err(SeccompError::Arch(std::env::consts::ARCH))
    }
}

fn backend_action(action: Action) -> SeccompAction {
    match action {
        Action::Allow => SeccompAction::Allow,
        Action::Errno(e) => SeccompAction::Errno(e),
        Action::KillProcess => SeccompAction::KillProcess,
        Action::KillThread => SeccompAction::KillThread,
        Action::Trap => SeccompAction::Trap,
        Action::Log => SeccompAction::Log,
    }
}

fn backend_rule(rule: &Rule) -> Result<Option<SeccompRule>, SeccompError> {
    if rule.args.is_empty() {
        return Ok(None);
    }
    let err = |source| SeccompError::Rule {
        syscall: rule.syscall.clone(),
        source,
    };
    let conditions = rule
        .args
        .iter()
        .map(|c| {
            let op = match c.op {
                ArgOp::Eq => SeccompCmpOp::Eq,
                ArgOp::Ne => SeccompCmpOp::Ne,
                ArgOp::Lt => SeccompCmpOp::Lt,
                ArgOp::Le => SeccompCmpOp::Le,
                ArgOp::Gt => SeccompCmpOp::Gt,
                ArgOp::Ge => SeccompCmpOp::Ge,
                ArgOp::MaskedEq(mask) => SeccompCmpOp::MaskedEq(mask),
            };
            SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, op, c.value).map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    SeccompRule::new(conditions).map(Some).map_err(err)
}

/// Builds the rule map of one action: an unconditional rule for a call overrides its
/// conditional ones (an empty chain means "always" to seccompiler).
fn rule_map<'a>(
    rules: impl Iterator<Item = &'a Rule>,
) -> Result<BTreeMap<i64, Vec<SeccompRule>>, SeccompError> {
    let mut map: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
    for rule in rules {
        let entry = map.entry(rule.nr).or_insert_with(|| Some(Vec::new()));
        match (backend_rule(rule)?, entry.as_mut()) {
            (Some(r), Some(chain)) => chain.push(r),
            (Some(_), None) => {}
            (None, _) => *entry = None,
        }
    }
    Ok(map
        .into_iter()
        .map(|(nr, chain)| (nr, chain.unwrap_or_default()))
        .collect())
}

/// The x32 killer: `nr >= __X32_SYSCALL_BIT` → kill the process. Hand-written because it is a
/// range check, which seccompiler's per-number rules cannot express.
fn x32_filter() -> BpfProgram {
    use seccompiler::sock_filter;
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        ins(LD_W_ABS, 0, 0, 4),              // A = seccomp_data.arch
        ins(JEQ_K, 1, 0, AUDIT_ARCH_X86_64), // x86_64 ? skip the kill
        ins(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        ins(LD_W_ABS, 0, 0, 0),        // A = seccomp_data.nr
        ins(JGE_K, 0, 1, 0x4000_0000), // x32 bit set ?
        ins(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Compiles `profile` into the stack of programs described in the module docs.
pub fn compile(profile: &SeccompProfile) -> Result<CompiledFilter, SeccompError> {
    let arch = target_arch()?;
    let mut programs = Vec::new();
    let build = |rules, mismatch: Action, on_match: Action| -> Result<BpfProgram, SeccompError> {
        let filter = SeccompFilter::new(
            rules,
            backend_action(mismatch),
            backend_action(on_match),
            arch,
        )
        .map_err(|source| SeccompError::Filter {
            action: on_match,
            source,
        })?;
        BpfProgram::try_from(filter).map_err(|source| SeccompError::Filter {
            action: on_match,
            source,
        })
    };
    // 1. One filter per non-default, non-allow action. Rules whose action equals the default
    //    are documentation (they would do nothing); skipping them keeps the programs short.
    let mut others: Vec<Action> = profile
        .rules
        .iter()
        .map(|r| r.action)
        .filter(|a| *a != Action::Allow && *a != profile.default_action)
        .collect();
    others.sort();
    others.dedup();
    for action in &others {
        let rules = rule_map(profile.rules.iter().filter(|r| r.action == *action))?;
        programs.push(build(rules, Action::Allow, *action)?);
    }
    // 2. x32 calls are killed.
    if arch == TargetArch::x86_64 {
        programs.push(x32_filter());
    }
    // 3. The allowlist, last: until it is installed `seccomp(2)` stays callable even when the
    //    profile denies it. It lets through the calls that have an explicit action of their own
    //    (with the same conditions), so that action, not the default, is what the kernel
    //    returns for them (clone3 → ENOSYS, not EPERM). Absent when the default allows.
    if profile.default_action != Action::Allow {
        let rules = rule_map(
            profile
                .rules
                .iter()
                .filter(|r| r.action == Action::Allow || others.contains(&r.action)),
        )?;
        programs.push(build(rules, profile.default_action, Action::Allow)?);
    }
    let allowed = profile
        .rules
        .iter()
        .filter(|r| r.action == Action::Allow)
        .count();
    let summary = format!(
        "{}: default {:?}, {} allow rules, {} explicit deny rules, other architectures and x32 killed{}",
        profile.origin,
        profile.default_action,
        allowed,
        profile.rules.len() - allowed,
        if profile.unknown_syscalls.is_empty() {
            String::new()
        } else {
            format!(", {} names unknown on this architecture skipped", profile.unknown_syscalls.len())
        }
    );
    Ok(CompiledFilter { programs, summary })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_compiles_to_a_stack_of_filters() {
        let profile = SeccompProfile::builtin_default().expect("default");
        let compiled = compile(&profile).expect("compile");
        // ENOSYS for clone3, x32 killer, allowlist
        assert_eq!(compiled.programs.len(), 3);
        assert_eq!(compiled.programs[1].len(), 7);
        assert!(compiled.programs[2].len() > compiled.programs[0].len());
        assert!(compiled
            .programs
            .iter()
            .all(|p| !p.is_empty() && p.len() < 4096));
        assert!(compiled.summary.contains("x32 killed"));
    }
}
