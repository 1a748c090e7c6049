//! Seccomp profiles as data: rharden's own JSON format (`policies/seccomp/default.json`) and
//! Docker's profile format, both parsed with `deny_unknown_fields` and validated into one typed
//! IR ([`SeccompProfile`]) that `seccomp.rs` compiles.
//!
//! Every rule of rharden's format belongs to a group that carries a human `reason`. A bad
//! profile is reported with the file and the JSON pointer of the offending value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::caps::Capability;

/// The built-in profile, `policies/seccomp/default.json`.
pub const DEFAULT_PROFILE_JSON: &str = include_str!("../../../policies/seccomp/default.json");

/// What the filter does with a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let it through.
    Allow,
    /// Fail it with this errno.
    Errno(u32),
    /// Kill the whole process.
    KillProcess,
    /// Kill the calling thread.
    KillThread,
    /// Send SIGSYS.
    Trap,
    /// Allow and log.
    Log,
}

/// A comparison on one system call argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgOp {
    /// `arg == value`
    Eq,
    /// `arg != value`
    Ne,
    /// `arg < value`
    Lt,
    /// `arg <= value`
    Le,
    /// `arg > value`
    Gt,
    /// `arg >= value`
    Ge,
    /// `arg & mask == value`
    MaskedEq(u64),
}

/// One argument condition; all conditions of a rule must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ArgCondition {
    /// Argument index, 0..=5.
    pub index: u8,
    /// The comparison.
    pub op: ArgOp,
    /// The value compared with.
    pub value: u64,
}

/// One rule of the IR: `syscall` (with `args` all holding) gets `action`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    /// System call name.
    pub syscall: String,
    /// Its number on the target architecture.
    pub nr: i64,
    /// What happens.
    pub action: Action,
    /// Conditions (AND); empty means always.
    pub args: Vec<ArgCondition>,
    /// Why (from the group; Docker profiles: their comment or "docker profile").
    pub reason: String,
}

/// A validated seccomp profile, ready to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompProfile {
    /// Where it came from (a path, or "built-in default").
    pub origin: String,
    /// What happens to every system call no rule matches.
    pub default_action: Action,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Names the profile mentions that this architecture does not have (skipped, reported).
    pub unknown_syscalls: Vec<String>,
}

/// Why a profile was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("failed to read seccomp profile {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON does not have the expected shape.
    #[error("failed to parse seccomp profile {origin}")]
    Parse {
        /// The file.
        origin: String,
        /// Serde's message carries the line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A value is invalid.
    #[error("failed to validate seccomp profile {origin} at {pointer}: {problem}")]
    Invalid {
        /// The file.
        origin: String,
        /// JSON pointer of the offending value.
        pointer: String,
        /// What is wrong.
        problem: String,
    },
}

// ---- rharden's format ----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeProfile {
    /// Free text about the profile as a whole.
    #[allow(dead_code)]
    about: String,
    default_action: NativeAction,
    groups: Vec<NativeGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeGroup {
    reason: String,
    action: NativeAction,
    syscalls: Vec<String>,
    #[serde(default)]
    args: Vec<NativeArg>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum NativeAction {
    Allow,
    Errno(String),
    KillProcess,
    KillThread,
    Trap,
    Log,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeArg {
    index: u8,
    op: String,
    value: u64,
    #[serde(default)]
    mask: Option<u64>,
}

// ---- Docker's format (moby/profiles/seccomp) ---------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DockerProfile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    syscalls: Option<Vec<DockerSyscall>>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    flags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DockerSyscall {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<DockerArg>>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    includes: Option<DockerFilter>,
    #[serde(default)]
    excludes: Option<DockerFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DockerArg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DockerFilter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// What Docker-format `includes`/`excludes` are evaluated against.
#[derive(Debug, Clone)]
pub struct ProfileContext {
    /// Capabilities the container keeps.
    pub caps: Vec<Capability>,
    /// Running kernel (major, minor).
    pub kernel: (u32, u32),
}

impl ProfileContext {
    /// The context of the running kernel with the given capabilities.
    pub fn current(caps: &[Capability]) -> Self {
        Self {
            caps: caps.to_vec(),
            kernel: kernel_version().unwrap_or((0, 0)),
        }
    }
}

/// `(major, minor)` from `/proc/sys/kernel/osrelease`.
pub fn kernel_version() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_version(&release)
}

fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.trim().split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

impl SeccompProfile {
    /// The built-in default profile.
    pub fn builtin_default() -> Result<Self, ProfileError> {
        Self::from_json(
            "built-in default (policies/seccomp/default.json)",
            DEFAULT_PROFILE_JSON,
            &ProfileContext::current(&[]),
        )
    }

    /// Reads a profile in rharden's or Docker's format.
    pub fn from_path(path: &Path, ctx: &ProfileContext) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&path.display().to_string(), &text, ctx)
    }

    /// Parses a profile, telling the formats apart by their top-level keys (`groups` for
    /// rharden's, `defaultAction` for Docker's).
    pub fn from_json(origin: &str, text: &str, ctx: &ProfileContext) -> Result<Self, ProfileError> {
        let parse_err = |source| ProfileError::Parse {
            origin: origin.to_owned(),
            source,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(parse_err)?;
        if value.get("defaultAction").is_some() {
            let docker: DockerProfile = serde_json::from_value(value).map_err(parse_err)?;
            from_docker(origin, docker, ctx)
        } else {
            let native: NativeProfile = serde_json::from_value(value).map_err(parse_err)?;
            from_native(origin, native)
        }
    }

    /// Number of rules per action (for the report).
    pub fn summary(&self) -> BTreeMap<Action, usize> {
        let mut map = BTreeMap::new();
        for rule in &self.rules {
            *map.entry(rule.action).or_insert(0) += 1;
        }
        map
    }
}

fn invalid(origin: &str, pointer: String, problem: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        origin: origin.to_owned(),
        pointer,
        problem: problem.into(),
    }
}

/// Syscall name → number on the architecture this crate is built for.
pub fn syscall_number(name: &str) -> Option<i64> {
    #[cfg(target_arch = "x86_64")]
    {
        crate::syscall_table::X86_64
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, nr)| *nr)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = name;
        None
    }
}

fn errno_by_name(name: &str) -> Option<u32> {
    let n = match name {
        "EPERM" => libc::EPERM,
        "ENOENT" => libc::ENOENT,
        "EACCES" => libc::EACCES,
        "EINVAL" => libc::EINVAL,
        "ENOSYS" => libc::ENOSYS,
        "EOPNOTSUPP" => libc::EOPNOTSUPP,
        _ => return None,
    };
    u32::try_from(n).ok()
}

fn native_action(
    origin: &str,
    pointer: String,
    action: &NativeAction,
) -> Result<Action, ProfileError> {
    Ok(match action {
        NativeAction::Allow => Action::Allow,
        NativeAction::Errno(name) => Action::Errno(
            errno_by_name(name)
                .ok_or_else(|| invalid(origin, pointer, format!("unknown errno name {name:?}")))?,
        ),
        NativeAction::KillProcess => Action::KillProcess,
        NativeAction::KillThread => Action::KillThread,
        NativeAction::Trap => Action::Trap,
        NativeAction::Log => Action::Log,
    })
}

fn parse_op(op: &str, mask: Option<u64>) -> Option<ArgOp> {
    Some(match (op, mask) {
        ("eq", None) => ArgOp::Eq,
        ("ne", None) => ArgOp::Ne,
        ("lt", None) => ArgOp::Lt,
        ("le", None) => ArgOp::Le,
        ("gt", None) => ArgOp::Gt,
        ("ge", None) => ArgOp::Ge,
        ("masked_eq", Some(mask)) => ArgOp::MaskedEq(mask),
        _ => return None,
    })
}

fn from_native(origin: &str, profile: NativeProfile) -> Result<SeccompProfile, ProfileError> {
    let default_action = native_action(origin, "/default_action".into(), &profile.default_action)?;
    let mut rules = Vec::new();
    // Unconditional allows, to detect a syscall both allowed and explicitly denied.
    let mut allowed: BTreeMap<&str, String> = BTreeMap::new();
    let mut denied: BTreeMap<&str, String> = BTreeMap::new();
    for (g, group) in profile.groups.iter().enumerate() {
        if group.reason.trim().is_empty() {
            return Err(invalid(
                origin,
                format!("/groups/{g}/reason"),
                "every group needs a reason",
            ));
        }
        if group.syscalls.is_empty() {
            return Err(invalid(
                origin,
                format!("/groups/{g}/syscalls"),
                "a group lists at least one syscall",
            ));
        }
        let action = native_action(origin, format!("/groups/{g}/action"), &group.action)?;
        let mut args = Vec::new();
        for (a, arg) in group.args.iter().enumerate() {
            let op = parse_op(&arg.op, arg.mask).ok_or_else(|| {
                invalid(
                    origin,
                    format!("/groups/{g}/args/{a}/op"),
                    format!(
                        "unknown op {:?} (masked_eq needs a mask, others none)",
                        arg.op
                    ),
                )
            })?;
            if arg.index > 5 {
                return Err(invalid(
                    origin,
                    format!("/groups/{g}/args/{a}/index"),
                    "argument index is 0..=5",
                ));
            }
            args.push(ArgCondition {
                index: arg.index,
                op,
                value: arg.value,
            });
        }
        for (s, name) in group.syscalls.iter().enumerate() {
            let pointer = format!("/groups/{g}/syscalls/{s}");
            let nr = syscall_number(name).ok_or_else(|| {
                invalid(origin, pointer.clone(), format!("unknown syscall {name:?}"))
            })?;
            if args.is_empty() {
                let seen = if action == Action::Allow {
                    &mut allowed
                } else {
                    &mut denied
                };
                if let Some(first) = seen.insert(name, pointer.clone()) {
                    return Err(invalid(
                        origin,
                        pointer,
                        format!("{name} is already listed at {first}"),
                    ));
                }
            }
            rules.push(Rule {
                syscall: name.clone(),
                nr,
                action,
                args: args.clone(),
                reason: group.reason.clone(),
            });
        }
    }
    for (name, pointer) in &denied {
        if let Some(other) = allowed.get(name) {
            return Err(invalid(
                origin,
                pointer.clone(),
                format!("{name} is both denied here and allowed at {other}"),
            ));
        }
    }
    Ok(SeccompProfile {
        origin: origin.to_owned(),
        default_action,
        rules,
        unknown_syscalls: Vec::new(),
    })
}

fn docker_action(
    origin: &str,
    pointer: String,
    action: &str,
    errno: Option<u32>,
) -> Result<Action, ProfileError> {
    Ok(match action {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(libc::EPERM as u32)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        other => {
            return Err(invalid(
                origin,
                pointer,
                format!("unsupported action {other:?} (rharden has no tracer or notifier)"),
            ))
        }
    })
}

fn docker_op(op: &str, value: u64, value_two: u64) -> Option<(ArgOp, u64)> {
    Some(match op {
        "SCMP_CMP_EQ" => (ArgOp::Eq, value),
        "SCMP_CMP_NE" => (ArgOp::Ne, value),
        "SCMP_CMP_LT" => (ArgOp::Lt, value),
        "SCMP_CMP_LE" => (ArgOp::Le, value),
        "SCMP_CMP_GT" => (ArgOp::Gt, value),
        "SCMP_CMP_GE" => (ArgOp::Ge, value),
        // libseccomp: (arg & datum_a) == datum_b, with Docker's value = a, valueTwo = b.
        "SCMP_CMP_MASKED_EQ" => (ArgOp::MaskedEq(value), value_two),
        _ => return None,
    })
}

/// Docker's names for this architecture (`includes.arches`).
const DOCKER_ARCH_NAMES: &[&str] = &["amd64", "x86_64", "SCMP_ARCH_X86_64"];

fn filter_matches(filter: &DockerFilter, ctx: &ProfileContext) -> bool {
    let caps_ok = filter.caps.as_ref().is_none_or(|caps| {
        caps.iter()
            .all(|c| Capability::from_name(c).is_some_and(|c| ctx.caps.contains(&c)))
    });
    let arch_ok = filter.arches.as_ref().is_none_or(|arches| {
        arches
            .iter()
            .any(|a| DOCKER_ARCH_NAMES.contains(&a.as_str()))
    });
    let kernel_ok = filter
        .min_kernel
        .as_deref()
        .and_then(parse_version)
        .is_none_or(|min| ctx.kernel >= min);
    caps_ok && arch_ok && kernel_ok
}

fn filter_excludes(filter: &DockerFilter, ctx: &ProfileContext) -> bool {
    let caps = filter.caps.as_ref().is_some_and(|caps| {
        caps.iter()
            .any(|c| Capability::from_name(c).is_some_and(|c| ctx.caps.contains(&c)))
    });
    let arch = filter.arches.as_ref().is_some_and(|arches| {
        arches
            .iter()
            .any(|a| DOCKER_ARCH_NAMES.contains(&a.as_str()))
    });
    let kernel = filter
        .min_kernel
        .as_deref()
        .and_then(parse_version)
        .is_some_and(|min| ctx.kernel >= min);
    caps || arch || kernel
}

fn from_docker(
    origin: &str,
    profile: DockerProfile,
    ctx: &ProfileContext,
) -> Result<SeccompProfile, ProfileError> {
    let _ = (
        &profile.architectures,
        &profile.arch_map,
        &profile.listener_path,
        &profile.listener_metadata,
        &profile.flags,
    );
    let default_action = docker_action(
        origin,
        "/defaultAction".into(),
        &profile.default_action,
        profile.default_errno_ret,
    )?;
    let mut rules = Vec::new();
    let mut unknown = Vec::new();
    for (i, entry) in profile.syscalls.iter().flatten().enumerate() {
        if entry
            .includes
            .as_ref()
            .is_some_and(|f| !filter_matches(f, ctx))
        {
            continue;
        }
        if entry
            .excludes
            .as_ref()
            .is_some_and(|f| filter_excludes(f, ctx))
        {
            continue;
        }
        let action = docker_action(
            origin,
            format!("/syscalls/{i}/action"),
            &entry.action,
            entry.errno_ret,
        )?;
        let mut args = Vec::new();
        for (a, arg) in entry.args.iter().flatten().enumerate() {
            let (op, value) = docker_op(&arg.op, arg.value, arg.value_two).ok_or_else(|| {
                invalid(
                    origin,
                    format!("/syscalls/{i}/args/{a}/op"),
                    format!("unknown op {:?}", arg.op),
                )
            })?;
            if arg.index > 5 {
                return Err(invalid(
                    origin,
                    format!("/syscalls/{i}/args/{a}/index"),
                    "argument index is 0..=5",
                ));
            }
            args.push(ArgCondition {
                index: arg.index,
                op,
                value,
            });
        }
        let reason = entry
            .comment
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "docker profile".to_owned());
        for name in entry.names.iter().chain(entry.name.iter()) {
            // Docker's profile lists calls of every architecture; the ones this one lacks are
            // skipped (as libseccomp does) and listed in the report.
            match syscall_number(name) {
                Some(nr) => rules.push(Rule {
                    syscall: name.clone(),
                    nr,
                    action,
                    args: args.clone(),
                    reason: reason.clone(),
                }),
                None => unknown.push(name.clone()),
            }
        }
    }
    unknown.sort();
    unknown.dedup();
    Ok(SeccompProfile {
        origin: origin.to_owned(),
        default_action,
        rules,
        unknown_syscalls: unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_default_profile_is_valid_and_denies_the_dangerous_calls() {
        let profile = SeccompProfile::builtin_default().expect("default.json is valid");
        assert_eq!(profile.default_action, Action::Errno(libc::EPERM as u32));
        let action_of = |name: &str| {
            profile
                .rules
                .iter()
                .find(|r| r.syscall == name && r.args.is_empty())
                .map(|r| r.action)
        };
        assert_eq!(action_of("read"), Some(Action::Allow));
        assert_eq!(
            action_of("clone3"),
            Some(Action::Errno(libc::ENOSYS as u32))
        );
        for denied in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "ptrace",
            "bpf",
            "keyctl",
            "add_key",
            "io_uring_setup",
            "userfaultfd",
            "perf_event_open",
            "kexec_load",
            "init_module",
            "finit_module",
        ] {
            assert_eq!(
                action_of(denied),
                Some(Action::Errno(libc::EPERM as u32)),
                "{denied}"
            );
        }
        // clone is allowed only without namespace flags.
        let clone = profile
            .rules
            .iter()
            .find(|r| r.syscall == "clone")
            .expect("clone rule");
        assert_eq!(clone.action, Action::Allow);
        assert!(
            matches!(clone.args[0].op, ArgOp::MaskedEq(mask) if mask & libc::CLONE_NEWUSER as u64 != 0)
        );
        assert!(profile.rules.iter().all(|r| !r.reason.is_empty()));
    }

    #[test]
    fn unknown_fields_and_syscalls_are_refused_with_a_json_pointer() {
        let ctx = ProfileContext::current(&[]);
        let err = SeccompProfile::from_json(
            "t.json",
            r#"{"about":"","default_action":"allow","groups":[],"extra":1}"#,
            &ctx,
        )
        .expect_err("unknown field");
        assert!(matches!(err, ProfileError::Parse { .. }), "{err}");
        let err = SeccompProfile::from_json(
            "t.json",
            r#"{"about":"","default_action":{"errno":"EPERM"},"groups":[{"reason":"r","action":"allow","syscalls":["read","nope"]}]}"#,
            &ctx,
        )
        .expect_err("unknown syscall");
        assert!(err.to_string().contains("/groups/0/syscalls/1"), "{err}");
        let err = SeccompProfile::from_json(
            "t.json",
            r#"{"about":"","default_action":{"errno":"EPERM"},"groups":[{"reason":"","action":"allow","syscalls":["read"]}]}"#,
            &ctx,
        )
        .expect_err("missing reason");
        assert!(err.to_string().contains("/groups/0/reason"), "{err}");
        let err = SeccompProfile::from_json(
            "t.json",
            r#"{"about":"","default_action":{"errno":"EPERM"},"groups":[
                {"reason":"a","action":"allow","syscalls":["mount"]},
                {"reason":"b","action":{"errno":"EPERM"},"syscalls":["mount"]}]}"#,
            &ctx,
        )
        .expect_err("contradiction");
        assert!(err.to_string().contains("both denied"), "{err}");
    }

    #[test]
    fn docker_profiles_are_accepted_with_includes_and_excludes() {
        let docker = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [
                {"names": ["read", "write", "not_a_syscall_here"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}}
            ]}"#;
        let ctx = ProfileContext {
            caps: vec![],
            kernel: (6, 1),
        };
        let p = SeccompProfile::from_json("docker.json", docker, &ctx).expect("docker profile");
        assert_eq!(p.default_action, Action::Errno(1));
        let names: Vec<&str> = p.rules.iter().map(|r| r.syscall.as_str()).collect();
        assert_eq!(names, ["read", "write", "ptrace", "clone", "clone3"]);
        assert_eq!(p.unknown_syscalls, ["not_a_syscall_here"]);
        let clone = &p.rules[3];
        assert_eq!(
            clone.args,
            [ArgCondition {
                index: 0,
                op: ArgOp::MaskedEq(2114060288),
                value: 0
            }]
        );
        assert_eq!(p.rules[4].action, Action::Errno(38));

        let with_admin = ProfileContext {
            caps: vec![Capability::from_name("CAP_SYS_ADMIN").expect("cap")],
            kernel: (6, 1),
        };
        let p =
            SeccompProfile::from_json("docker.json", docker, &with_admin).expect("docker profile");
        let names: Vec<&str> = p.rules.iter().map(|r| r.syscall.as_str()).collect();
        assert_eq!(names, ["read", "write", "ptrace", "mount", "clone3"]);
    }
}
