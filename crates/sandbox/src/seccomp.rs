//! Compiles a [`SeccompProfile`] (the IR of `profile.rs`) into one BPF program with
//! seccompiler.
//!
//! seccompiler's filters have exactly two outcomes (match / mismatch), so a profile with several
//! actions is first built as a *stack* of filters, as the kernel would run them: every installed
//! filter runs and the most restrictive action wins (KILL > TRAP > ERRNO > LOG > ALLOW); between
//! equally strict actions the most recently installed filter wins (`seccomp_run_filters` in
//! kernel/seccomp.c). The stack, in installation order:
//!
//! 1. one filter per explicit non-default action (e.g. `clone3` → ENOSYS): its calls → that
//!    action, everything else → allow;
//! 2. a filter that kills x32 system calls (`__X32_SYSCALL_BIT`), which share
//!    `AUDIT_ARCH_X86_64` with native calls. Every seccompiler program also starts by killing
//!    the process on any other architecture (i386 `int 0x80`, …);
//! 3. last, the allowlist: listed calls (with their argument conditions) → allow, else the
//!    default. It also lets through the calls of step 1, so their own action is the one that
//!    remains.
//!
//! The stack is then chained into one program ([`chain`]): the filters in the order the kernel
//! would let them win, each one's "allow" jumping to the next, so the first verdict that is not
//! "allow" is the stack's. One filter is one `seccomp(2)` call, one JIT compilation and one
//! program run per system call instead of three.

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

impl CompiledFilter {
    /// The filter as bytes, after `key` (what it was compiled from, checked on load).
    pub fn to_bytes(&self, key: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        field(key);
        field(self.summary.as_bytes());
        field(&(self.programs.len() as u64).to_le_bytes());
        for program in &self.programs {
            let mut code = Vec::with_capacity(program.len() * 8);
            for i in program {
                code.extend_from_slice(&i.code.to_le_bytes());
                code.extend_from_slice(&[i.jt, i.jf]);
                code.extend_from_slice(&i.k.to_le_bytes());
            }
            field(&code);
        }
        out
    }

    /// The filter [`CompiledFilter::to_bytes`] wrote, if it was compiled from exactly `key`.
    pub fn from_bytes(mut bytes: &[u8], key: &[u8]) -> Option<Self> {
        let mut field = || -> Option<&[u8]> {
            let len = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
            let value = bytes.get(8..8usize.checked_add(len)?)?;
            bytes = &bytes[8 + len..];
            Some(value)
        };
        if field()? != key {
            return None;
        }
        let summary = String::from_utf8(field()?.to_vec()).ok()?;
        // Exactly this many programs and nothing after them: a truncated entry must never
        // load as a shorter stack (it would drop a filter).
        let count = u64::from_le_bytes(field()?.try_into().ok()?);
        let mut programs = Vec::new();
        for _ in 0..count {
            let code = field()?;
            if code.is_empty() || code.len() % 8 != 0 {
                return None;
            }
            programs.push(
                code.chunks_exact(8)
                    .map(|c| seccompiler::sock_filter {
                        code: u16::from_le_bytes([c[0], c[1]]),
                        jt: c[2],
                        jf: c[3],
                        k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                    })
                    .collect(),
            );
        }
        (bytes.is_empty() && !programs.is_empty()).then_some(CompiledFilter { programs, summary })
    }
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

/// The architecture filters are compiled for (part of a cached filter's key).
pub fn target_arch_name() -> &'static str {
    std::env::consts::ARCH
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

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

fn audit_arch(arch: TargetArch) -> u32 {
    match arch {
        TargetArch::aarch64 => 0xC000_00B7,
        _ => 0xC000_003E,
    }
}

/// The front of the allowlist: other architectures killed, then a binary search over the runs
/// of consecutive always-allowed numbers (`nr >= lo && nr <= hi` → allow). A number in no run
/// falls through to the program appended after it (its own arch check and rules).
///
/// A search, not a list: the kernel runs the filter on every system call, and when it is
/// installed it emulates it once per system call number to cache the constant "allow"s
/// (`seccomp_cache_prepare`, under a spin lock): with a list, most numbers walked most runs.
/// Falls back to a list when the search would not fit 8-bit jumps (a very long custom profile).
fn range_prefix(arch: TargetArch, allowed: &[i64]) -> BpfProgram {
    use seccompiler::sock_filter;
    let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for nr in allowed.iter().filter_map(|n| u32::try_from(*n).ok()) {
        match ranges.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(nr) => *hi = nr,
            _ => ranges.push((nr, nr)),
        }
    }
    let mut program = vec![
        ins(LD_W_ABS, 0, 0, 4), // A = seccomp_data.arch
        ins(JEQ_K, 1, 0, audit_arch(arch)),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        ins(LD_W_ABS, 0, 0, 0), // A = seccomp_data.nr
    ];
    match search(&ranges) {
        Some(tree) => program.extend(tree),
        None => program.extend(linear(&ranges)),
    }
    program
}

/// Changes whenever the same profile compiles to a different program, so that a filter cached
/// by an earlier build is compiled again (run.rs).
pub const COMPILER_REVISION: u32 = 2;

/// Where a jump of [`search`] goes before it is resolved.
#[derive(Clone, Copy)]
enum Exit {
    /// The shared `RET ALLOW`.
    Allow,
    /// Past it: the number is in no run.
    Out,
}

/// A binary search over sorted, disjoint `ranges`, followed by `RET ALLOW`; every other path
/// ends just past that. `None` when a jump would not fit in 8 bits.
fn search(ranges: &[(u32, u32)]) -> Option<BpfProgram> {
    use seccompiler::sock_filter;
    let mut code: Vec<sock_filter> = Vec::new();
    // (instruction, true branch?, where to)
    let mut exits: Vec<(usize, bool, Exit)> = Vec::new();
    let mut patches: Vec<(usize, usize)> = Vec::new(); // (JGE, index its true branch goes to)
    fn node(
        ranges: &[(u32, u32)],
        code: &mut Vec<sock_filter>,
        exits: &mut Vec<(usize, bool, Exit)>,
        patches: &mut Vec<(usize, usize)>,
    ) {
        let ins = |op, k| sock_filter {
            code: op,
            jt: 0,
            jf: 0,
            k,
        };
        if ranges.len() <= 2 {
            // Leaves, in order: below a run's start → in none of this subtree's runs.
            for (i, (lo, hi)) in ranges.iter().enumerate() {
                exits.push((code.len(), false, Exit::Out));
                code.push(ins(JGE_K, *lo));
                // Not above its end → allowed; above the last run's end → in none.
                exits.push((code.len(), false, Exit::Allow));
                if i + 1 == ranges.len() {
                    exits.push((code.len(), true, Exit::Out));
                }
                code.push(ins(JGT_K, *hi));
            }
            return;
        }
        // nr >= the middle run's start: the upper half; else the lower one, which follows.
        let mid = ranges.len() / 2;
        let split = code.len();
        code.push(ins(JGE_K, ranges[mid].0));
        node(&ranges[..mid], code, exits, patches);
        patches.push((split, code.len()));
        node(&ranges[mid..], code, exits, patches);
    }
    if ranges.is_empty() {
        return Some(Vec::new());
    }
    node(ranges, &mut code, &mut exits, &mut patches);
    let allow = code.len();
    code.push(sock_filter {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    });
    let offset = |from: usize, to: usize| u8::try_from(to.checked_sub(from + 1)?).ok();
    for (at, to) in patches {
        code[at].jt = offset(at, to)?;
    }
    for (at, taken, exit) in exits {
        let to = match exit {
            Exit::Allow => allow,
            Exit::Out => allow + 1,
        };
        let off = offset(at, to)?;
        if taken {
            code[at].jt = off;
        } else {
            code[at].jf = off;
        }
    }
    Some(code)
}

/// The runs checked one after the other (chunks of 100, so jumps stay within 8 bits).
fn linear(ranges: &[(u32, u32)]) -> BpfProgram {
    use seccompiler::sock_filter;
    let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let mut program = Vec::new();
    for chunk in ranges.chunks(100) {
        // Layout: [JGE lo; JGT hi] per range, JA over the allow, RET ALLOW.
        let n = chunk.len();
        for (i, (lo, hi)) in chunk.iter().enumerate() {
            let at = 2 * i; // index of this range's JGE within the chunk
            let ja = 2 * n; // index of the JA
            let allow = ja + 1;
            // nr < lo: below every later range too (they are sorted): skip to after the chunk.
            let to_end = u8::try_from(allow + 1 - (at + 1)).unwrap_or(u8::MAX);
            // nr <= hi: allowed.
            let to_allow = u8::try_from(allow - (at + 2)).unwrap_or(u8::MAX);
            program.push(ins(JGE_K, 0, to_end, *lo));
            program.push(ins(JGT_K, 0, to_allow, *hi));
        }
        program.push(ins(JA, 0, 0, 1));
        program.push(ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    }
    program
}

/// Compiles `profile` into the program described in the module docs.
pub fn compile(profile: &SeccompProfile) -> Result<CompiledFilter, SeccompError> {
    let arch = target_arch()?;
    let stack = stack(profile, arch)?;
    // The order in which the kernel lets the filters' verdicts win: x32 killer (KILL) first,
    // then the action filters by precedence (between equal ones, the later installed first),
    // the allowlist last. Too long for one filter (a large custom profile): the stack as is.
    let mut order: Vec<usize> = (0..stack.len()).collect();
    order.sort_by_key(|&i| (stack[i].0, std::cmp::Reverse(i)));
    let programs = chain(order.iter().map(|&i| &stack[i].1))
        .map(|one| vec![one])
        .unwrap_or_else(|| stack.into_iter().map(|(_, p)| p).collect());
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

/// Where a filter's verdict ranks when the kernel combines a stack (0 wins over everything):
/// the x32 killer and the arch checks kill; the allowlist's default can be anything, but it
/// only decides calls no action filter matched, so it goes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    X32,
    Action(u8),
    Allowlist,
}

fn precedence(action: Action) -> u8 {
    match action {
        Action::KillProcess => 0,
        Action::KillThread => 1,
        Action::Trap => 2,
        Action::Errno(_) => 3,
        Action::Log => 4,
        Action::Allow => 5,
    }
}

/// Most seccomp filters the kernel accepts in one program (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// One program running `programs` in turn: in every one but the last, "allow" jumps to the
/// start of the next; any other verdict is final. `None` when the result is too long.
fn chain<'a>(programs: impl Iterator<Item = &'a BpfProgram>) -> Option<BpfProgram> {
    let programs: Vec<&BpfProgram> = programs.collect();
    let mut one = BpfProgram::new();
    for (n, program) in programs.iter().enumerate() {
        let last = n + 1 == programs.len();
        for (i, ins) in program.iter().enumerate() {
            if !last && ins.code == RET_K && ins.k == libc::SECCOMP_RET_ALLOW {
                // To just past this program's end; the offset counts from the next instruction.
                one.push(seccompiler::sock_filter {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: u32::try_from(program.len() - i - 1).ok()?,
                });
            } else {
                one.push(seccompiler::sock_filter {
                    code: ins.code,
                    jt: ins.jt,
                    jf: ins.jf,
                    k: ins.k,
                });
            }
        }
    }
    (one.len() <= MAX_INSNS).then_some(one)
}

/// The stack of the module docs, in installation order, each filter with its [`Rank`].
fn stack(
    profile: &SeccompProfile,
    arch: TargetArch,
) -> Result<Vec<(Rank, BpfProgram)>, SeccompError> {
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
        programs.push((
            Rank::Action(precedence(*action)),
            build(rules, Action::Allow, *action)?,
        ));
    }
    // 2. x32 calls are killed.
    if arch == TargetArch::x86_64 {
        programs.push((Rank::X32, x32_filter()));
    }
    // 3. The allowlist, last. It lets through the calls that have an explicit action of their
    //    own (with the same conditions), so that action, not the default, is what the kernel
    //    returns for them (clone3 → ENOSYS, not EPERM). Absent when the default allows.
    if profile.default_action != Action::Allow {
        let rules = rule_map(
            profile
                .rules
                .iter()
                .filter(|r| r.action == Action::Allow || others.contains(&r.action)),
        )?;
        // Calls allowed whatever their arguments become range checks in front of seccompiler's
        // program for the conditional ones: the kernel checks, converts and JITs every
        // instruction at each start, and ~300 per-number rules were most of the filter.
        let (always, conditional): (BTreeMap<i64, Vec<SeccompRule>>, _) =
            rules.into_iter().partition(|(_, chain)| chain.is_empty());
        let mut program = range_prefix(arch, &always.into_keys().collect::<Vec<_>>());
        program.extend(build(conditional, profile.default_action, Action::Allow)?);
        programs.push((Rank::Allowlist, program));
    }
    Ok(programs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_compiles_to_one_program() {
        let profile = SeccompProfile::builtin_default().expect("default");
        let compiled = compile(&profile).expect("compile");
        assert_eq!(compiled.programs.len(), 1);
        // The stack it chains: ENOSYS for clone3, x32 killer, allowlist.
        let stack = stack(&profile, target_arch().expect("arch")).expect("stack");
        assert_eq!(stack.len(), 3);
        assert_eq!(stack[1].1.len(), 7);
        assert_eq!(
            compiled.programs[0].len(),
            stack.iter().map(|(_, p)| p.len()).sum::<usize>()
        );
        assert!(compiled.summary.contains("x32 killed"));
    }

    #[test]
    fn a_cached_filter_loads_only_under_its_own_key() {
        let compiled = compile(&SeccompProfile::builtin_default().expect("default")).expect("c");
        let bytes = compiled.to_bytes(b"key 1");
        let back = CompiledFilter::from_bytes(&bytes, b"key 1").expect("round trip");
        assert_eq!(back.summary, compiled.summary);
        assert_eq!(back.programs.len(), compiled.programs.len());
        for (a, b) in back.programs.iter().zip(&compiled.programs) {
            assert!(a
                .iter()
                .zip(b)
                .all(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k)));
            assert_eq!(a.len(), b.len());
        }
        assert!(CompiledFilter::from_bytes(&bytes, b"key 2").is_none());
        // Truncated anywhere (even right before the instructions), or with bytes after it:
        // refused.
        for cut in [3, 8, 8 * compiled.programs[0].len(), bytes.len() / 2] {
            assert!(
                CompiledFilter::from_bytes(&bytes[..bytes.len() - cut], b"key 1").is_none(),
                "cut {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 16]);
        assert!(CompiledFilter::from_bytes(&longer, b"key 1").is_none());
        assert!(CompiledFilter::from_bytes(b"", b"key 1").is_none());
    }

    /// A classic-BPF interpreter for the instructions these programs use.
    fn eval(program: &[seccompiler::sock_filter], data: &[u32; 16]) -> u32 {
        let mut a: u32 = 0;
        let mut pc = 0usize;
        loop {
            let i = &program[pc];
            pc += 1;
            let k = i.k;
            match i.code {
                0x20 => a = data[(k / 4) as usize],
                0x54 => a &= k, // BPF_ALU | BPF_AND | BPF_K
                0x05 => pc += k as usize,
                0x06 => return k,
                code => {
                    let taken = match code {
                        0x15 => a == k,
                        0x25 => a > k,
                        0x35 => a >= k,
                        0x45 => a & k != 0,
                        other => panic!("instruction {other:#x} not interpreted"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
            }
        }
    }

    /// `seccomp_data` words for every number below 600 and three x32/out-of-range ones, each
    /// with four argument patterns, on this architecture and on another one.
    fn inputs(arch: TargetArch) -> impl Iterator<Item = [u32; 16]> {
        let native = audit_arch(arch);
        (0..600u32)
            .chain([0x4000_0000, 0x4000_0001, u32::MAX])
            .flat_map(move |nr| {
                [[0u32; 12], [1; 12], [u32::MAX; 12], [0x7e020000; 12]]
                    .into_iter()
                    .flat_map(move |args| {
                        [native, 0x4000_0003].into_iter().map(move |arch_value| {
                            let mut data = [0u32; 16];
                            data[0] = nr;
                            data[1] = arch_value;
                            data[4..].copy_from_slice(&args);
                            data
                        })
                    })
            })
    }

    /// What the kernel returns for a stack of filters: every one runs, the most restrictive
    /// action wins, and between equal ones the most recently installed (`seccomp_run_filters`).
    fn eval_stack(stack: &[BpfProgram], data: &[u32; 16]) -> u32 {
        let action = |ret: u32| (ret & 0xffff_0000) as i32;
        let mut verdict = None;
        for program in stack.iter().rev() {
            let ret = eval(program, data);
            match verdict {
                Some(v) if action(ret) >= action(v) => {}
                _ => verdict = Some(ret),
            }
        }
        verdict.expect("a program")
    }

    /// The chained program returns what the kernel would for the stack, for every number, with
    /// and without arguments, on this and another architecture and for x32: for the default
    /// profile and for one with every action (two errnos, a trap, a log, a kill).
    #[test]
    fn one_chained_program_decides_like_the_stack_of_filters() {
        let several = r#"{"about":"every action","default_action":{"errno":"EPERM"},"groups":[
            {"reason":"a","action":"allow","syscalls":["read","write","close","personality"]},
            {"reason":"b","action":{"errno":"ENOSYS"},"syscalls":["clone3","openat"]},
            {"reason":"c","action":"trap","syscalls":["uname"]},
            {"reason":"d","action":"log","syscalls":["getpid"]},
            {"reason":"e","action":"kill_thread","syscalls":["kexec_load"]},
            {"reason":"f","action":{"errno":"EACCES"},"syscalls":["mkdir"]}]}"#;
        let ctx = crate::profile::ProfileContext::current(&[]);
        let profiles = [
            SeccompProfile::builtin_default().expect("default"),
            SeccompProfile::from_json("several.json", several, &ctx).expect("several"),
        ];
        let arch = target_arch().expect("arch");
        for profile in &profiles {
            let stack: Vec<BpfProgram> = stack(profile, arch)
                .expect("stack")
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            let compiled = compile(profile).expect("compile");
            assert_eq!(compiled.programs.len(), 1, "{}", profile.origin);
            let one = &compiled.programs[0];
            for data in inputs(arch) {
                assert_eq!(
                    eval(one, &data),
                    eval_stack(&stack, &data),
                    "{}: seccomp_data {data:x?}",
                    profile.origin
                );
            }
        }
    }

    /// The range prefix decides exactly as seccompiler's per-number rules did, for every
    /// number, with and without arguments, and on another architecture; and it is far shorter.
    #[test]
    fn the_allowlist_with_ranges_decides_like_per_number_rules() {
        let profile = SeccompProfile::builtin_default().expect("default");
        let arch = target_arch().expect("arch");
        let others: Vec<Action> = profile
            .rules
            .iter()
            .map(|r| r.action)
            .filter(|a| *a != Action::Allow && *a != profile.default_action)
            .collect();
        let rules = rule_map(
            profile
                .rules
                .iter()
                .filter(|r| r.action == Action::Allow || others.contains(&r.action)),
        )
        .expect("rules");
        let reference: BpfProgram = SeccompFilter::new(
            rules,
            backend_action(profile.default_action),
            SeccompAction::Allow,
            arch,
        )
        .and_then(BpfProgram::try_from)
        .expect("reference");
        let stack = stack(&profile, arch).expect("stack");
        let ours = &stack.last().expect("allowlist").1;
        assert!(
            ours.len() * 3 < reference.len(),
            "{} vs {}",
            ours.len(),
            reference.len()
        );
        for data in inputs(arch) {
            assert_eq!(
                eval(ours, &data),
                eval(&reference, &data),
                "seccomp_data {data:x?}"
            );
        }
    }

    /// What a prefix decides for `nr`: allowed, or on to the rest of the program.
    fn prefix_allows(prefix: &[seccompiler::sock_filter], nr: u32) -> bool {
        // A = seccomp_data.nr, as range_prefix loads it.
        let mut program = vec![seccompiler::sock_filter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        }];
        program.extend_from_slice(prefix);
        program.push(seccompiler::sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO,
        });
        let mut data = [0u32; 16];
        data[0] = nr;
        eval(&program, &data) == libc::SECCOMP_RET_ALLOW
    }

    #[test]
    fn the_search_over_allowed_runs_decides_like_the_list() {
        // Run sets of every shape: empty, one, odd and even counts, adjacent and far apart,
        // 0 and u32::MAX at the edges; the search must decide every number as the list does.
        let mut sets: Vec<Vec<(u32, u32)>> = vec![
            vec![],
            vec![(0, 0)],
            vec![(5, 9)],
            vec![(0, 3), (5, 5)],
            vec![(1, 1), (3, 4), (6, 6)],
            vec![(0, 0), (2, 2), (4, 4), (6, 6), (8, 8), (10, 10), (12, 12)],
            vec![(7, 100), (200, 300), (u32::MAX - 1, u32::MAX)],
        ];
        // Pseudo-random sets (a fixed LCG: the test is repeatable).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for n in 1..60u32 {
            let mut set = Vec::new();
            let mut at = 0u32;
            for _ in 0..n {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let gap = u32::try_from((x >> 33) % 4).unwrap_or(1) + 1;
                let len = u32::try_from((x >> 40) % 3).unwrap_or(0);
                set.push((at + gap, at + gap + len));
                at += gap + len + 1;
            }
            sets.push(set);
        }
        for set in &sets {
            let tree = search(set).expect("fits 8-bit jumps");
            let list = linear(set);
            let top = set.last().map_or(0, |r| r.1);
            for nr in (0..=top.saturating_add(3).min(2000)).chain([u32::MAX - 2, u32::MAX]) {
                let want = set.iter().any(|(lo, hi)| (*lo..=*hi).contains(&nr));
                assert_eq!(prefix_allows(&tree, nr), want, "search, {set:?}, nr {nr}");
                assert_eq!(prefix_allows(&list, nr), want, "list, {set:?}, nr {nr}");
            }
        }
        // Too many runs for 8-bit jumps: no search (the list is used).
        let many: Vec<(u32, u32)> = (0..400).map(|i| (2 * i, 2 * i)).collect();
        assert!(search(&many).is_none());
        assert!(prefix_allows(&linear(&many), 798) && !prefix_allows(&linear(&many), 799));
    }
}
