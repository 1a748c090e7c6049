//! Just enough shell to read build history: the script a `RUN` step ran, split into pipelines,
//! commands and words. Quoting is approximated (quotes are stripped from words, separators inside
//! quotes still split): the rules only look for command names and flags.

/// Dockerfile instructions other than RUN, as history records them.
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Shells a script may be piped into.
pub const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"];

/// A step's `created_by` without BuildKit's ` # buildkit` suffix and Docker's `#(nop)` prefix:
/// the instruction as written (`ADD file:… in /x`, `RUN …`) or the shell command.
pub fn instruction(created_by: &str) -> &str {
    let t = created_by.trim();
    let t = t.strip_suffix("# buildkit").unwrap_or(t).trim_end();
    match t.find("#(nop)") {
        Some(i) => t[i + "#(nop)".len()..].trim_start(),
        None => t,
    }
}

/// The shell script a RUN step ran, or `None` for any other instruction. Recognises Docker's and
/// buildah's `/bin/sh -c …`, BuildKit's `RUN [--mount=…] /bin/sh -c … # buildkit`, Docker's
/// build-arg prefix `|2 A=1 B=2 /bin/sh -c …`, and steps recorded as bare commands (umoci).
pub fn run_script(created_by: &str) -> Option<String> {
    if created_by.contains("#(nop)") {
        return None;
    }
    let t = instruction(created_by);
    let mut words = t.split_whitespace().peekable();
    let first = *words.peek()?;
    if first == "RUN" {
        words.next();
        // BuildKit RUN flags: --mount=…, --network=…, --security=…
        while words.peek().is_some_and(|w| w.starts_with("--")) {
            words.next();
        }
    } else if INSTRUCTIONS.contains(&first) {
        return None;
    } else if first.starts_with('|') && first[1..].chars().all(|c| c.is_ascii_digit()) {
        // `|N` then N build args
        words.next();
        while words.peek().is_some_and(|w| w.contains('=')) {
            words.next();
        }
    }
    let rest: Vec<&str> = words.collect();
    // `/bin/sh -c SCRIPT`, `/bin/bash -o pipefail -c SCRIPT`
    let script_start = match rest.first() {
        Some(shell) if SHELLS.contains(&basename(shell)) => {
            rest.iter().position(|w| *w == "-c").map_or(0, |i| i + 1)
        }
        _ => 0,
    };
    Some(rest[script_start..].join(" "))
}

/// The last component of a command path: `/usr/bin/apt-get` → `apt-get`.
pub fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// One simple command: its words, quotes stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub words: Vec<String>,
}

impl Command {
    /// Index of the command word: after variable assignments and wrappers (`sudo -E`, `env`,
    /// `exec`, `nohup`, `time`), unless `keep_sudo`.
    fn start(&self, keep_sudo: bool) -> Option<usize> {
        let mut i = 0;
        let mut in_wrapper = false;
        while let Some(w) = self.words.get(i) {
            let name = basename(w);
            if in_wrapper && w.starts_with('-') {
                // `sudo -u USER`, `sudo -g GROUP`, `env -u NAME` take a value.
                if matches!(w.as_str(), "-u" | "-g") {
                    i += 1;
                }
                i += 1;
            } else if matches!(name, "env" | "exec" | "nohup" | "time" | "command")
                || (!keep_sudo && name == "sudo")
            {
                in_wrapper = true;
                i += 1;
            } else if w.contains('=') && !w.starts_with('-') && !w.starts_with('=') {
                i += 1;
            } else {
                return Some(i);
            }
        }
        None
    }

    /// The program run (basename), wrappers skipped.
    pub fn program(&self) -> Option<&str> {
        self.start(false).map(|i| basename(&self.words[i]))
    }

    /// The first word after assignments, `sudo` kept: `sudo` for `sudo apt-get …`.
    pub fn leading(&self) -> Option<&str> {
        self.start(true).map(|i| basename(&self.words[i]))
    }

    /// The words after the program.
    pub fn args(&self) -> &[String] {
        self.start(false).map_or(&[], |i| &self.words[i + 1..])
    }

    /// The first argument that is not an option, skipping the arguments of `with_value`
    /// options (`apt-get -o X=Y install` → `install`).
    pub fn subcommand(&self, with_value: &[&str]) -> Option<&str> {
        let mut args = self.args().iter();
        while let Some(a) = args.next() {
            if with_value.contains(&a.as_str()) {
                args.next();
            } else if !a.starts_with('-') {
                return Some(a);
            }
        }
        None
    }

    /// Whether any word is `flag` or starts with `flag=`.
    pub fn has(&self, flag: &str) -> bool {
        self.words
            .iter()
            .any(|w| w == flag || w.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
    }
}

/// Commands joined by `|`.
pub type Pipeline = Vec<Command>;

/// The script's pipelines, split at `;`, `&&`, `||`, `&` and newlines; commands at `|`.
pub fn pipelines(script: &str) -> Vec<Pipeline> {
    let mut out = Vec::new();
    let mut pipeline: Pipeline = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    let flush = |current: &mut String, pipeline: &mut Pipeline| {
        let words: Vec<String> = current
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c| matches!(c, '\'' | '"' | '(' | ')' | '{' | '}' | '`'))
                    .to_owned()
            })
            .filter(|w| !w.is_empty() && w != "\\")
            .collect();
        if !words.is_empty() {
            pipeline.push(Command { words });
        }
        current.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '|' if chars.peek() == Some(&'|') => {
                chars.next();
                flush(&mut current, &mut pipeline);
                out.push(std::mem::take(&mut pipeline));
            }
            '|' => flush(&mut current, &mut pipeline),
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                flush(&mut current, &mut pipeline);
                out.push(std::mem::take(&mut pipeline));
            }
            ';' | '\n' | '&' => {
                flush(&mut current, &mut pipeline);
                out.push(std::mem::take(&mut pipeline));
            }
            _ => current.push(c),
        }
    }
    flush(&mut current, &mut pipeline);
    out.push(pipeline);
    out.retain(|p| !p.is_empty());
    out
}

/// Every simple command of the script.
pub fn commands(script: &str) -> Vec<Command> {
    pipelines(script).into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_of_every_builder() {
        assert_eq!(
            run_script("/bin/sh -c apt-get update && apt-get install -y curl").as_deref(),
            Some("apt-get update && apt-get install -y curl")
        );
        assert_eq!(
            run_script(
                "RUN --mount=type=cache,target=/var/cache/apt /bin/sh -c apt-get update # buildkit"
            )
            .as_deref(),
            Some("apt-get update")
        );
        assert_eq!(
            run_script("|2 A=1 B=2 /bin/sh -c make").as_deref(),
            Some("make")
        );
        assert_eq!(
            run_script("/bin/bash -o pipefail -c curl x | sh").as_deref(),
            Some("curl x | sh")
        );
        assert_eq!(run_script("/bin/sh -c #(nop)  USER app"), None);
        assert_eq!(run_script("COPY a /b # buildkit"), None);
        assert_eq!(
            run_script("cp /bin/busybox /x && setcap cap_net_raw+ep /x").as_deref(),
            Some("cp /bin/busybox /x && setcap cap_net_raw+ep /x")
        );
        assert_eq!(
            instruction("/bin/sh -c #(nop) ADD file:abc in / "),
            "ADD file:abc in /"
        );
    }

    #[test]
    fn commands_skip_wrappers() {
        let cmds = commands("DEBIAN_FRONTEND=noninteractive sudo -E apt-get -o Foo=1 install -y x; curl -fsSL u | sudo bash -s");
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0].program(), Some("apt-get"));
        assert_eq!(cmds[0].leading(), Some("sudo"));
        assert_eq!(cmds[0].subcommand(&["-o"]), Some("install"));
        assert_eq!(cmds[2].program(), Some("bash"));
        assert!(cmds[0].has("-y"));
        let p = pipelines("a || b && c | d & e");
        assert_eq!(p.len(), 4);
        assert_eq!(p[2].len(), 2);
    }
}
