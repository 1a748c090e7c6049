//! Rules on what the image is: its runtime config, its reference, and sudo in its filesystem.

use rharden_image::{Fate, Healthcheck};

use super::{
    NO_HEALTHCHECK, ROOT_USER, SECRET_ENV_NAME, SENSITIVE_PORT, SUDO_INSTALLED, UNPINNED_REFERENCE,
};
use crate::analysis::Context;
use crate::finding::{Finding, Severity};

/// Ports of remote-administration and cluster-control services (CIS Docker Benchmark 5.7-5.8,
/// Dockle CIS-DI-0004's list, and the Docker/Kubernetes daemons).
const SENSITIVE_PORTS: &[(u16, &str)] = &[
    (21, "ftp"),
    (22, "ssh"),
    (23, "telnet"),
    (69, "tftp"),
    (111, "rpcbind"),
    (135, "msrpc"),
    (139, "netbios"),
    (445, "smb"),
    (512, "rexec"),
    (513, "rlogin"),
    (514, "rsh"),
    (2375, "docker (plain)"),
    (2376, "docker (tls)"),
    (2379, "etcd"),
    (2380, "etcd peer"),
    (3389, "rdp"),
    (5900, "vnc"),
    (5985, "winrm"),
    (5986, "winrm (tls)"),
    (6000, "x11"),
    (10250, "kubelet"),
];

/// Words of an ENV name (split at `_`, `-`, `.` and camelCase) that say it holds a secret.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "SECRETS",
    "TOKEN",
    "TOKENS",
    "CREDENTIAL",
    "CREDENTIALS",
    "APIKEY",
    "SECRETKEY",
    "ACCESSKEY",
    "PRIVATEKEY",
    "AUTHTOKEN",
    "ACCESSTOKEN",
];

/// Two-word names that do (`API_KEY`, `apiKey`).
const SECRET_PAIRS: &[(&str, &str)] = &[
    ("API", "KEY"),
    ("ACCESS", "KEY"),
    ("PRIVATE", "KEY"),
    ("AUTH", "KEY"),
    ("SECRET", "KEY"),
    ("ENCRYPTION", "KEY"),
    ("SIGNING", "KEY"),
];

/// Suffixes of names that point at a secret rather than hold it (`POSTGRES_PASSWORD_FILE`).
const POINTER_SUFFIXES: &[&str] = &["_FILE", "_PATH", "_DIR", "_URL", "_URI", "_ENDPOINT"];

pub(super) fn findings(ctx: &Context<'_>) -> Vec<Finding> {
    let cfg = &ctx.image.config.config;
    let mut out = Vec::new();

    if cfg.runs_as_root() {
        let user = cfg.user.clone().unwrap_or_default();
        out.push(
            ROOT_USER
                .at(Context::config_location("User"), "User")
                .detail("user", user),
        );
    }

    if !has_healthcheck(cfg.healthcheck.as_ref()) {
        out.push(NO_HEALTHCHECK.at(Context::config_location("Healthcheck"), "Healthcheck"));
    }

    for key in cfg.exposed_ports.iter().flatten().map(|(k, _)| k) {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(port) = port.trim().parse::<u16>() else {
            continue;
        };
        if let Some((_, service)) = SENSITIVE_PORTS.iter().find(|(p, _)| *p == port) {
            let place = format!("ExposedPorts/{key}");
            let mut f = SENSITIVE_PORT
                .at(Context::config_location(&place), &place)
                .detail("port", port)
                .detail("protocol", proto)
                .detail("service", *service);
            f.title = format!("{}: {port}/{proto} ({service})", SENSITIVE_PORT.title);
            out.push(f);
        }
    }

    for (name, value) in cfg.env_pairs() {
        if !secret_name(name) {
            continue;
        }
        let place = format!("Env/{name}");
        // The value itself is the secrets analyzer's; here only whether there is one.
        let severity = if value.trim().is_empty() {
            Severity::Low
        } else {
            SECRET_ENV_NAME.severity
        };
        let mut f = SECRET_ENV_NAME
            .at_severity(severity, Context::config_location(&place), &place)
            .detail("name", name)
            .detail("value_empty", value.trim().is_empty());
        f.title = format!("{}: {name}", SECRET_ENV_NAME.title);
        out.push(f);
    }

    if let Some(reference) = &ctx.image.reference {
        if let Some(tag) = unpinned_tag(reference) {
            let severity = if tag == "latest" {
                UNPINNED_REFERENCE.severity
            } else {
                Severity::Info
            };
            out.push(
                UNPINNED_REFERENCE
                    .at_severity(severity, Context::config_location("reference"), "reference")
                    .detail("reference", reference.as_str())
                    .detail("tag", tag),
            );
        }
    }

    for path in [&b"usr/bin/sudo"[..], b"bin/sudo", b"usr/local/bin/sudo"] {
        let present = ctx
            .files
            .history_of(path)
            .into_iter()
            .find(|r| r.fate == Fate::Present);
        if let Some(record) = present {
            let place = crate::analysis::display_path(path);
            out.push(
                SUDO_INSTALLED
                    .at(ctx.location(record), &place)
                    .detail("mode", crate::privilege::octal_mode(record.mode)),
            );
        }
    }
    out
}

/// A healthcheck that tests something (`["NONE"]` disables the base image's).
fn has_healthcheck(h: Option<&Healthcheck>) -> bool {
    h.and_then(|h| h.test.as_ref())
        .and_then(|t| t.first())
        .is_some_and(|kind| kind != "NONE")
}

/// Whether an ENV name says it holds a secret: `DB_PASSWORD`, `githubToken`, `API_KEY`; not
/// `TOKENIZERS_PARALLELISM` or `POSTGRES_PASSWORD_FILE`.
pub(super) fn secret_name(name: &str) -> bool {
    let words = words(name);
    let upper = name.to_ascii_uppercase();
    let secret = words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
        || words
            .windows(2)
            .any(|p| SECRET_PAIRS.contains(&(p[0].as_str(), p[1].as_str())));
    secret && !POINTER_SUFFIXES.iter().any(|s| upper.ends_with(s))
}

/// The upper-cased words of a name: split at non-alphanumerics and lower→upper case changes.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let boundary = !c.is_ascii_alphanumeric() || (prev_lower && c.is_ascii_uppercase());
        if boundary && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_uppercase());
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The tag of a reference not pinned by digest (`latest` when it names none), or `None` when
/// pinned. `localhost:5000/app` has no tag: the colon is the registry's port.
pub(super) fn unpinned_tag(reference: &str) -> Option<String> {
    if reference.contains('@') {
        return None;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let tag = match last.rsplit_once(':') {
        Some((_, tag)) => tag,
        // An OCI layout's ref name may be a bare tag (`latest`, `1.2`).
        None if reference == "latest" || reference.starts_with(|c: char| c.is_ascii_digit()) => {
            reference
        }
        None => "latest",
    };
    Some(tag.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for yes in [
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "aws_secret_access_key",
            "STRIPE_API_KEY",
            "SSH_PRIVATE_KEY",
            "githubToken",
            "MYSQL_ROOT_PASSWORD",
            "DJANGO_SECRET_KEY",
            "apiKey",
        ] {
            assert!(secret_name(yes), "{yes}");
        }
        for no in [
            "PATH",
            "POSTGRES_PASSWORD_FILE",
            "TOKEN_URL",
            "GPG_KEY",
            "APP_MODE",
            "TOKENIZERS_PARALLELISM",
            "KEYBOARD",
            "PASSENGER_APP_ENV",
        ] {
            assert!(!secret_name(no), "{no}");
        }
    }

    #[test]
    fn tags() {
        assert_eq!(
            unpinned_tag("localhost/rharden-fixtures/base:latest").as_deref(),
            Some("latest")
        );
        assert_eq!(unpinned_tag("latest").as_deref(), Some("latest"));
        assert_eq!(unpinned_tag("debian:12").as_deref(), Some("12"));
        assert_eq!(unpinned_tag("1.2").as_deref(), Some("1.2"));
        assert_eq!(unpinned_tag("debian").as_deref(), Some("latest"));
        assert_eq!(
            unpinned_tag("localhost:5000/app").as_deref(),
            Some("latest")
        );
        assert_eq!(unpinned_tag("debian:12@sha256:abcd"), None);
    }
}
