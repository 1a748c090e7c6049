//! Which `RPATH`/`RUNPATH` entries let someone else choose the libraries a binary loads:
//! the dynamic loader searches them in order (ld.so(8), "Rpath token expansion").

/// Directories anyone can write to in a running container, whatever the image says.
const WORLD_WRITABLE: [&str; 4] = ["/tmp", "/var/tmp", "/dev/shm", "/run/shm"];

/// One search path entry that is not safe, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insecure {
    pub entry: String,
    pub why: String,
}

/// The entries of `entries` that are not safe for the binary at `binary` (an absolute path).
/// `writable(dir)` says whether the image makes the absolute directory `dir` world-writable.
pub fn insecure_entries(
    binary: &str,
    entries: &[String],
    writable: &dyn Fn(&str) -> bool,
) -> Vec<Insecure> {
    entries
        .iter()
        .filter_map(|entry| {
            judge(binary, entry, writable).map(|why| Insecure {
                entry: entry.clone(),
                why,
            })
        })
        .collect()
}

fn judge(binary: &str, entry: &str, writable: &dyn Fn(&str) -> bool) -> Option<String> {
    if entry.is_empty() {
        return Some("empty entry: searches the working directory".to_owned());
    }
    let rest = entry
        .strip_prefix("$ORIGIN")
        .or_else(|| entry.strip_prefix("${ORIGIN}"));
    let resolved = match rest {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let dir = binary.rsplit_once('/').map_or("", |(dir, _)| dir);
            match normalize(&format!("{dir}{rest}"), false) {
                Some(path) => path,
                None => return Some("$ORIGIN-relative entry climbs above /".to_owned()),
            }
        }
        // The kernel resolves `/..` to `/`.
        _ if entry.starts_with('/') => normalize(entry, true)?,
        _ => return Some("relative entry: resolved against the working directory".to_owned()),
    };
    let mut prefix = String::new();
    for part in resolved.split('/').filter(|p| !p.is_empty()) {
        prefix.push('/');
        prefix.push_str(part);
        if WORLD_WRITABLE.contains(&prefix.as_str()) || writable(&prefix) {
            return Some(format!("under the world-writable directory {prefix}"));
        }
    }
    None
}

/// `path` with `.` and `..` resolved lexically; a `..` above `/` stays at `/` when `saturate`,
/// else gives `None`.
fn normalize(path: &str, saturate: bool) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() && !saturate {
                    return None;
                }
            }
            _ => parts.push(part),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(binary: &str, entry: &str) -> Option<String> {
        judge(binary, entry, &|dir| dir == "/srv/drop")
    }

    #[test]
    fn origin_inside_the_image_and_system_dirs_are_safe() {
        assert_eq!(why("/opt/app/bin/x", "$ORIGIN/../lib"), None);
        assert_eq!(why("/opt/app/bin/x", "${ORIGIN}"), None);
        assert_eq!(why("/bin/x", "/usr/lib/x86_64-linux-gnu"), None);
    }

    #[test]
    fn entries_others_control_are_named() {
        assert!(why("/bin/x", "").is_some_and(|w| w.contains("empty")));
        assert!(why("/bin/x", "lib").is_some_and(|w| w.contains("relative")));
        assert!(why("/bin/x", "$ORIGINAL").is_some_and(|w| w.contains("relative")));
        assert!(why("/bin/x", "$ORIGIN/../../lib").is_some_and(|w| w.contains("above /")));
        assert!(why("/bin/x", "/tmp/lib").is_some_and(|w| w.contains("/tmp")));
        assert!(why("/bin/x", "/usr/../var/tmp").is_some_and(|w| w.contains("/var/tmp")));
        assert!(why("/bin/x", "/srv/drop/lib").is_some_and(|w| w.contains("/srv/drop")));
        assert!(why("/bin/x", "/../tmp").is_some_and(|w| w.contains("/tmp")));
        assert!(why("/tmp/x", "$ORIGIN").is_some_and(|w| w.contains("/tmp")));
    }
}
