//! Rules on how the image was built: each history step's `created_by`, as Docker (classic and
//! BuildKit), buildah/podman and umoci record it.

use super::shell::{self, Command, SHELLS};
use super::{
    ADD_INSTEAD_OF_COPY, APT_RECOMMENDS, APT_UPGRADE, CURL_PIPE_SHELL, PACKAGE_CACHE, SUDO_IN_BUILD,
};
use crate::analysis::Context;
use crate::finding::Finding;

/// apt-get options that take a value (`-o Dpkg::Options::=…`, `-t bookworm-backports`).
const APT_VALUE_OPTIONS: &[&str] = &["-o", "-t", "-c", "--option", "--target-release"];

pub(super) fn findings(ctx: &Context<'_>) -> Vec<Finding> {
    let env_no_pip_cache = ctx
        .image
        .config
        .config
        .env_pairs()
        .any(|(k, _)| k == "PIP_NO_CACHE_DIR");
    let mut out = Vec::new();
    for (step, entry) in ctx.image.config.history.iter().enumerate() {
        let Some(created_by) = entry.created_by.as_deref() else {
            continue;
        };
        let place = format!("history/{step}");
        let mut push = |f: Finding| out.push(f.detail("step", step));
        if let Some(sources) = add_of_local_files(created_by) {
            push(
                ADD_INSTEAD_OF_COPY
                    .at(ctx.history_location(step), &place)
                    .detail("sources", sources),
            );
        }
        let Some(script) = shell::run_script(created_by) else {
            continue;
        };
        let pipelines = shell::pipelines(&script);
        let commands: Vec<&Command> = pipelines.iter().flatten().collect();
        let apt = |sub: &[&str]| {
            commands
                .iter()
                .filter(|c| matches!(c.program(), Some("apt-get" | "apt" | "aptitude")))
                .filter(move |c| {
                    c.subcommand(APT_VALUE_OPTIONS)
                        .is_some_and(|s| sub.contains(&s))
                })
                .copied()
                .collect::<Vec<&Command>>()
        };

        if !apt(&["upgrade", "dist-upgrade", "full-upgrade"]).is_empty() {
            push(APT_UPGRADE.at(ctx.history_location(step), &place));
        }

        if commands.iter().any(|c| c.leading() == Some("sudo")) {
            push(SUDO_IN_BUILD.at(ctx.history_location(step), &place));
        }

        let installs = apt(&["install"]);
        if installs.iter().any(|c| {
            !c.has("--no-install-recommends")
                && !c.words.iter().any(|w| {
                    let w = w.to_ascii_lowercase();
                    w.contains("install-recommends=false") || w.contains("install-recommends=0")
                })
        }) {
            push(APT_RECOMMENDS.at(ctx.history_location(step), &place));
        }

        // A BuildKit cache mount keeps the cache out of the layer.
        let cache_mount = created_by.contains("type=cache");
        let mut managers: Vec<&str> = Vec::new();
        if !installs.is_empty() && !script.contains("/var/lib/apt/lists") && !cache_mount {
            managers.push("apt");
        }
        let apk_add = commands.iter().any(|c| {
            c.program() == Some("apk") && c.subcommand(&[]) == Some("add") && !c.has("--no-cache")
        });
        if apk_add && !script.contains("/var/cache/apk") && !cache_mount {
            managers.push("apk");
        }
        let pip_install = commands
            .iter()
            .any(|c| pip_install(c) && !c.has("--no-cache-dir"));
        if pip_install && !env_no_pip_cache && !script.contains("PIP_NO_CACHE_DIR") && !cache_mount
        {
            managers.push("pip");
        }
        let yum_install = commands.iter().any(|c| {
            matches!(c.program(), Some("yum" | "dnf" | "microdnf" | "tdnf"))
                && c.subcommand(&["-c", "--setopt"]) == Some("install")
        });
        let yum_cleaned = script.contains("clean all")
            || script.contains("/var/cache/yum")
            || script.contains("/var/cache/dnf");
        if yum_install && !yum_cleaned && !cache_mount {
            managers.push("yum/dnf");
        }
        if !managers.is_empty() {
            push(
                PACKAGE_CACHE
                    .at(ctx.history_location(step), &place)
                    .detail("managers", managers),
            );
        }

        if pipelines.iter().any(|p| pipes_download_to_shell(p)) || substitutes_download(&script) {
            push(CURL_PIPE_SHELL.at(ctx.history_location(step), &place));
        }
    }
    out
}

/// `pip install`, `pip3 install`, `python3 -m pip install`.
fn pip_install(c: &Command) -> bool {
    match c.program() {
        // pip, pip3, pip3.12 (not pipx or pipenv: other tools, other caches)
        Some(p)
            if p.strip_prefix("pip")
                .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.')) =>
        {
            c.subcommand(&[]) == Some("install")
        }
        Some(p) if p.starts_with("python") => {
            let args = c.args();
            args.windows(3)
                .any(|w| w[0] == "-m" && w[1] == "pip" && w[2] == "install")
        }
        _ => false,
    }
}

fn downloads(c: &Command) -> bool {
    matches!(c.program(), Some("curl" | "wget"))
}

fn is_shell(c: &Command) -> bool {
    c.program().is_some_and(|p| SHELLS.contains(&p))
}

/// `curl … | sh`, `wget -O- … | sudo bash -s`.
fn pipes_download_to_shell(pipeline: &[Command]) -> bool {
    pipeline
        .iter()
        .position(downloads)
        .is_some_and(|i| pipeline[i + 1..].iter().any(is_shell))
}

/// `sh -c "$(curl …)"`, `bash <(wget -O- …)`.
fn substitutes_download(script: &str) -> bool {
    ["$(curl", "$(wget", "<(curl", "<(wget", "`curl", "`wget"]
        .iter()
        .any(|s| script.contains(s))
        && shell::commands(script).iter().any(is_shell)
}

/// Archive suffixes ADD unpacks.
const ARCHIVES: &[&str] = &[
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tar.zst",
    ".tzst",
    ".tar.lz",
    ".tar.lzma",
];

/// The sources of an `ADD` of local, non-archive files, or `None` for any other step.
///
/// Docker classic and buildah record `ADD file:<hash> in <dest>` (also `dir:` and `multi:`): the
/// source's name is gone. `file:… in /` is a base image's root filesystem (`docker import`,
/// `podman import`, the official images' `ADD rootfs.tar.xz /`), an unpacked archive: not
/// reported. BuildKit records the instruction as written (`ADD src… dest # buildkit`): URLs,
/// git sources and archives are what ADD is for.
fn add_of_local_files(created_by: &str) -> Option<Vec<String>> {
    let text = shell::instruction(created_by);
    let rest = text.strip_prefix("ADD ")?;
    let words: Vec<&str> = rest
        .split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect();
    let first = *words.first()?;
    // `ADD <src…> in <dest>`: the classic recorder's form (sources may also be URLs)
    let words: Vec<&str> = match words.len().checked_sub(2).map(|i| words[i]) {
        Some("in") => {
            let mut w = words[..words.len() - 2].to_vec();
            w.push(words[words.len() - 1]);
            w
        }
        _ => words,
    };
    if ["file:", "dir:", "multi:"]
        .iter()
        .any(|p| first.starts_with(p))
    {
        let dest = rest.rsplit_once(" in ").map(|(_, d)| d.trim());
        if first.starts_with("file:") && dest == Some("/") {
            return None;
        }
        return Some(vec![first.to_owned()]);
    }
    // `ADD ["a", "b", "/dest"]` or `ADD a b /dest`
    let words: Vec<String> = words
        .iter()
        .map(|w| {
            w.trim_matches(|c| matches!(c, '[' | ']' | '"' | ','))
                .to_owned()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let (_, sources) = words.split_last()?;
    let local: Vec<String> = sources
        .iter()
        .filter(|s| {
            let lower = s.to_ascii_lowercase();
            !(lower.contains("://")
                || lower.starts_with("git@")
                || ARCHIVES.iter().any(|a| lower.ends_with(a)))
        })
        .cloned()
        .collect();
    (!local.is_empty()).then_some(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_forms() {
        // docker classic / buildah
        assert_eq!(
            add_of_local_files("/bin/sh -c #(nop) ADD file:abc in /etc/app.conf "),
            Some(vec!["file:abc".to_owned()])
        );
        assert!(add_of_local_files("/bin/sh -c #(nop) ADD dir:abc in /srv ").is_some());
        // base root filesystems (podman import, the official images)
        assert_eq!(
            add_of_local_files("/bin/sh -c #(nop) ADD file:79011446d0 in /"),
            None
        );
        assert_eq!(
            add_of_local_files("/bin/sh -c #(nop) COPY file:abc in /x "),
            None
        );
        // BuildKit
        assert_eq!(
            add_of_local_files("ADD --chown=app app.conf /etc/ # buildkit"),
            Some(vec!["app.conf".to_owned()])
        );
        assert_eq!(
            add_of_local_files("ADD https://example.com/x.sh /x # buildkit"),
            None
        );
        assert_eq!(add_of_local_files("ADD rootfs.tar.xz / # buildkit"), None);
        assert_eq!(
            add_of_local_files(r#"ADD ["a.txt", "b.tgz", "/d/"] # buildkit"#),
            Some(vec!["a.txt".to_owned()])
        );
        assert_eq!(add_of_local_files("/bin/sh -c echo ADD x y"), None);
        assert_eq!(
            add_of_local_files("/bin/sh -c #(nop) ADD https://example.com/x.sh in /x "),
            None
        );
        assert_eq!(
            add_of_local_files("/bin/sh -c #(nop) ADD multi:abc in /srv/ "),
            Some(vec!["multi:abc".to_owned()])
        );
    }

    #[test]
    fn download_pipes() {
        let p = |s: &str| {
            shell::pipelines(s)
                .iter()
                .any(|p| pipes_download_to_shell(p))
                || substitutes_download(s)
        };
        assert!(p("curl -fsSL https://get.example.com | sh"));
        assert!(p("wget -qO- https://x | sudo -E bash -s -- --yes"));
        assert!(p("sh -c \"$(curl -fsSL https://x)\""));
        assert!(p("bash <(curl -s https://x)"));
        assert!(!p(
            "curl -fsSLo /tmp/x.sh https://x && sha256sum -c x.sum && sh /tmp/x.sh"
        ));
        assert!(!p("curl -s https://x | tar -xz"));
        assert!(!p("cat x | sh"));
    }

    #[test]
    fn pip_but_not_its_cousins() {
        let pip = |s: &str| shell::commands(s).iter().any(pip_install);
        assert!(pip("pip install x"));
        assert!(pip("pip3.12 install x"));
        assert!(pip("python3 -m pip install x"));
        assert!(!pip("pipx install x"));
        assert!(!pip("pipenv install"));
        assert!(!pip("pip download x"));
    }
}
