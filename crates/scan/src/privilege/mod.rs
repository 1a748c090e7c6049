//! The privilege analyzer: what lets a process in the container gain privileges, or lets
//! anyone change what others run.
//!
//! | rule id | category | what |
//! |---|---|---|
//! | `setuid` | `setuid` | a regular file with the setuid bit |
//! | `setgid` | `setgid` | a regular file with the setgid bit |
//! | `file-capability` | `capability` | a file with a `security.capability` xattr |
//! | `world-writable` | `permissions` | a file or directory anyone may write (directories: without the sticky bit) |
//! | `unknown-owner` | `permissions` | an owner the final `etc/passwd` / `etc/group` do not know |
//! | `accounts-missing` | `permissions` | owners not checked: no readable `etc/passwd` / `etc/group` |
//!
//! setuid, setgid and capability findings cover every layer: an entry a later layer removed
//! (deleted, overwritten by a `chmod u-s`, hidden) is still reported, with its status and
//! severity `info`; it still ships in the earlier layer's blob. One finding per path, with a
//! location for every layer that wrote the path with the property.
//!
//! ```no_run
//! use rharden_image::{Image, OpenOptions};
//! use rharden_scan::analysis::Context;
//! use rharden_scan::privilege::{self, AccountsSink};
//!
//! let image = Image::open("caps.oci.tar".as_ref(), &OpenOptions::default())?;
//! let walk = image.walk(|_| AccountsSink::new())?;
//! let ctx = Context { image: &image, layers: &walk.layers, files: &walk.files };
//! let sinks: Vec<&AccountsSink> = walk.sinks.iter().collect();
//! for finding in privilege::findings(&ctx, &sinks) {
//!     println!("{} {}", finding.rule_id, finding.locations[0].path);
//! }
//! # Ok::<(), rharden_image::ImageError>(())
//! ```

mod accounts;
mod caps;
mod owners;

use std::collections::BTreeMap;

use rharden_image::{EntryKind, Fate, FileRecord};

use crate::analysis::Context;
use crate::finding::{Finding, Severity};

pub use accounts::{AccountsSink, Captured, Database, MAX_ACCOUNTS_FILE};
pub use caps::{name as capability_name, CapError, FileCaps, CAP_NAMES};

const SETUID: u32 = 0o4000;
const SETGID: u32 = 0o2000;
const STICKY: u32 = 0o1000;
const OTHER_WRITE: u32 = 0o0002;

/// The xattr that holds file capabilities.
pub const CAPABILITY_XATTR: &[u8] = b"security.capability";

/// Every privilege finding of the image. `sinks` are the walk's [`AccountsSink`]s in layer order.
pub fn findings(ctx: &Context<'_>, sinks: &[&AccountsSink]) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(special_bits(ctx, SETUID));
    out.extend(special_bits(ctx, SETGID));
    out.extend(capabilities(ctx));
    out.extend(world_writable(ctx));
    out.extend(owners::findings(ctx, sinks));
    out
}

/// The octal mode as `ls`/`chmod` write it: `4755`.
pub fn octal_mode(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Records of every layer matching `keep`, grouped by path (path order), layer order within.
fn by_path<'a>(
    ctx: &Context<'a>,
    keep: impl Fn(&FileRecord) -> bool,
) -> BTreeMap<&'a [u8], Vec<&'a FileRecord>> {
    let mut groups: BTreeMap<&[u8], Vec<&FileRecord>> = BTreeMap::new();
    for record in ctx.files.layers.iter().flatten() {
        if !record.kind.is_whiteout() && keep(record) {
            groups.entry(&record.path).or_default().push(record);
        }
    }
    groups
}

/// The record that counts: the one in the final filesystem, else the last one written.
fn current<'r>(records: &[&'r FileRecord]) -> Option<&'r FileRecord> {
    records
        .iter()
        .find(|r| r.fate == Fate::Present)
        .or_else(|| records.last())
        .copied()
}

/// A finding over `records` (one path): every record's location, and the facts of `now`.
fn finding_at(
    ctx: &Context<'_>,
    rule: &str,
    category: &'static str,
    severity: Severity,
    title: String,
    now: &FileRecord,
    records: &[&FileRecord],
) -> Finding {
    let mut f = Finding::new(rule, category, severity, title, &now.path)
        .detail("mode", octal_mode(now.mode))
        .detail("uid", now.uid)
        .detail("gid", now.gid)
        .detail("status", now.fate.name());
    f.locations = records.iter().map(|r| ctx.location(r)).collect();
    f
}

/// Why a removed entry still matters, and what to do.
fn removed_fix(now: &FileRecord, what: &str) -> String {
    format!(
        "No longer in the final filesystem ({} by layer {}), but still shipped in layer {}'s blob: \
         remove the {what} in the step that adds it, or flatten the image.",
        now.fate.name(),
        now.fate.by_layer().unwrap_or_default(),
        now.layer()
    )
}

/// Setuid-root programs that Debian, Ubuntu, Alpine and Fedora base images ship at these
/// paths. Still reported (most containers need none of them), one severity lower than a
/// setuid-root file a build step added, which is what a reviewer must look at first.
const DISTRO_SETUID: &[&str] = &[
    "chfn",
    "chsh",
    "gpasswd",
    "newgrp",
    "passwd",
    "su",
    "mount",
    "umount",
    "sudo",
    "ping",
    "ping6",
    "fusermount",
    "fusermount3",
    "pkexec",
    "newuidmap",
    "newgidmap",
    "crontab",
    "unix_chkpwd",
    "chage",
    "expiry",
    "ssh-agent",
    "bbsuid",
    "dbus-daemon-launch-helper",
];

fn is_distro_setuid(path: &[u8]) -> bool {
    let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&path[..0], path),
    };
    let system_dir = matches!(
        dir,
        b"bin" | b"sbin" | b"usr/bin" | b"usr/sbin" | b"usr/lib/dbus-1.0" | b"usr/libexec"
    );
    system_dir && DISTRO_SETUID.iter().any(|n| n.as_bytes() == name)
}

fn special_bits(ctx: &Context<'_>, bit: u32) -> Vec<Finding> {
    let (rule, word, chmod) = if bit == SETUID {
        ("setuid", "setuid", "u-s")
    } else {
        ("setgid", "setgid", "g-s")
    };
    let groups = by_path(ctx, |r| {
        matches!(r.kind, EntryKind::File | EntryKind::Hardlink) && r.mode & bit != 0
    });
    let mut out = Vec::new();
    for records in groups.values() {
        let Some(now) = current(records) else {
            continue;
        };
        let path = crate::analysis::display_path(&now.path);
        let present = now.fate == Fate::Present;
        let (severity, title) = match (present, bit == SETUID) {
            (false, _) => (
                Severity::Info,
                format!("{word} file, removed by a later layer"),
            ),
            (true, true) if now.uid == 0 && is_distro_setuid(&now.path) => (
                Severity::Medium,
                "setuid-root file a distribution installs this way: runs as root whoever starts it"
                    .to_owned(),
            ),
            (true, true) if now.uid == 0 => (
                Severity::High,
                "setuid-root file: runs as root whoever starts it".to_owned(),
            ),
            (true, true) => (
                Severity::Medium,
                format!("setuid file: runs as uid {} whoever starts it", now.uid),
            ),
            (true, false) => (
                Severity::Medium,
                format!("setgid file: runs with gid {} whoever starts it", now.gid),
            ),
        };
        let fix = if present {
            format!(
                "Drop the bit (`chmod {chmod} {path}`) in the step that installs it, or delete the file \
                 if the container does not need it; if it must stay, allow it by policy with a reason."
            )
        } else {
            removed_fix(now, &format!("{word} bit"))
        };
        let mut f = finding_at(
            ctx,
            rule,
            if bit == SETUID { "setuid" } else { "setgid" },
            severity,
            title,
            now,
            records,
        );
        f.fix = Some(fix);
        out.push(f);
    }
    out
}

fn capabilities(ctx: &Context<'_>) -> Vec<Finding> {
    let groups = by_path(ctx, |r| {
        r.xattrs().iter().any(|x| x.name == CAPABILITY_XATTR)
    });
    let mut out = Vec::new();
    for records in groups.values() {
        let Some(now) = current(records) else {
            continue;
        };
        let path = crate::analysis::display_path(&now.path);
        let present = now.fate == Fate::Present;
        let value = now
            .xattrs()
            .iter()
            .find(|x| x.name == CAPABILITY_XATTR)
            .map(|x| x.value.as_slice())
            .unwrap_or_default();
        let decoded = FileCaps::decode(value);
        let severity = match &decoded {
            _ if !present => Severity::Info,
            Ok(caps) if !caps.dangerous().is_empty() => Severity::High,
            _ => Severity::Medium,
        };
        let title = match (&decoded, present) {
            (Ok(caps), true) => format!("file capabilities {}", caps.text()),
            (Ok(caps), false) => format!(
                "file capabilities {}, removed by a later layer",
                caps.text()
            ),
            (Err(_), _) => "undecodable file capabilities".to_owned(),
        };
        let mut f = finding_at(
            ctx,
            "file-capability",
            "capability",
            severity,
            title,
            now,
            records,
        );
        match &decoded {
            Ok(caps) => {
                let dangerous = caps.dangerous();
                f = f
                    .detail("capabilities", caps.names())
                    .detail("text", caps.text())
                    .detail("effective", caps.effective)
                    .detail("revision", caps.revision);
                if let Some(rootid) = caps.rootid {
                    f = f.detail("rootid", rootid);
                }
                if !dangerous.is_empty() {
                    f = f.detail("dangerous", dangerous);
                }
            }
            Err(e) => {
                let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
                f = f
                    .detail("capabilities", Vec::<String>::new())
                    .detail("undecodable", e.to_string())
                    .detail("raw", hex);
            }
        }
        f.fix = Some(if present {
            format!(
                "Remove the capabilities (`setcap -r {path}`) unless the program needs them; grant what \
                 it needs at run time instead (`--cap-add`), or allow it by policy with a reason."
            )
        } else {
            removed_fix(now, "capabilities")
        });
        out.push(f);
    }
    out
}

fn world_writable(ctx: &Context<'_>) -> Vec<Finding> {
    let groups = by_path(ctx, |r| {
        r.fate == Fate::Present
            && r.mode & OTHER_WRITE != 0
            && match r.kind {
                // Symlink modes mean nothing; device nodes (`/dev/null`) are meant to be 0666.
                EntryKind::Symlink | EntryKind::CharDevice | EntryKind::BlockDevice => false,
                // /tmp (1777): anyone may create, only owners may delete or rename.
                EntryKind::Dir => r.mode & STICKY == 0,
                _ => true,
            }
    });
    let mut out = Vec::new();
    for records in groups.values() {
        let Some(now) = current(records) else {
            continue;
        };
        let path = crate::analysis::display_path(&now.path);
        let dir = now.kind == EntryKind::Dir;
        let title = if dir {
            "world-writable directory without the sticky bit: anyone may replace what is in it"
        } else {
            "world-writable file: any user in the container may change it"
        };
        let fix = if dir {
            format!("`chmod o-w {path}` (or `chmod +t {path}` for a shared scratch directory like /tmp).")
        } else {
            format!("`chmod o-w {path}` in the step that creates it.")
        };
        let mut f = finding_at(
            ctx,
            "world-writable",
            "permissions",
            Severity::Medium,
            title.to_owned(),
            now,
            records,
        )
        .detail("kind", now.kind.name());
        f.fix = Some(fix);
        out.push(f);
    }
    out
}
