//! Entry names from hostile archives, turned into normalised relative paths or a typed error.
//!
//! A normalised path is relative to the image root, has no `.`, `..` or empty components,
//! and no leading or trailing `/`; the root itself is the empty path. Paths stay bytes:
//! non-UTF-8 names are kept as they are.

/// The longest path accepted, as Linux's `PATH_MAX`.
pub const MAX_PATH_BYTES: usize = 4096;
/// The longest single component accepted, as Linux's `NAME_MAX`.
pub const MAX_NAME_BYTES: usize = 255;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the name is empty")]
    Empty,
    #[error("the name contains a NUL byte")]
    Nul,
    #[error("the name is absolute")]
    Absolute,
    #[error("the name climbs out with `..`")]
    Traversal,
    #[error("the name is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("a component is longer than {MAX_NAME_BYTES} bytes")]
    ComponentTooLong,
    /// `.wh.`, `.wh..`, `.wh...`: a whiteout of nothing, of its own directory or of its parent.
    #[error("the whiteout deletes nothing, its own directory or its parent")]
    InvalidWhiteout,
}

/// Normalises an entry name from a layer or archive: strips `./` and `/` noise, refuses
/// absolute names, `..`, NUL bytes and names over the kernel's limits.
pub fn normalize(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    if raw.is_empty() {
        return Err(PathError::Empty);
    }
    if raw.contains(&0) {
        return Err(PathError::Nul);
    }
    if raw[0] == b'/' {
        return Err(PathError::Absolute);
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    let mut out = Vec::with_capacity(raw.len());
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err(PathError::Traversal),
            name => {
                if name.len() > MAX_NAME_BYTES {
                    return Err(PathError::ComponentTooLong);
                }
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(name);
            }
        }
    }
    Ok(out)
}

/// The parent of a normalised path (`""` for a top-level name and for the root).
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[..i],
        None => b"",
    }
}

/// The last component of a normalised path.
pub fn file_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `parent/name`, or `name` when the parent is the root.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    out.extend_from_slice(parent);
    if !parent.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// Resolves a link target lexically against the directory that holds the link, the way a
/// container runtime does inside the rootfs. `None` when a relative target climbs above
/// the root (`../../etc/passwd` from `a/link`), which only a hostile archive contains.
/// An absolute target is taken relative to the image root.
pub fn resolve_link(link_dir: &[u8], target: &[u8]) -> Option<Vec<u8>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    if target.first() != Some(&b'/') {
        parts.extend(link_dir.split(|&b| b == b'/').filter(|c| !c.is_empty()));
    }
    for component in target.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                // An absolute target's `..` at the root stays at the root, as in the kernel.
                if parts.pop().is_none() && target.first() != Some(&b'/') {
                    return None;
                }
            }
            name => parts.push(name),
        }
    }
    Some(parts.join(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_dot_slash_and_empty_components() {
        assert_eq!(normalize(b"./usr/bin/su").unwrap(), b"usr/bin/su");
        assert_eq!(normalize(b"usr//bin/./su/").unwrap(), b"usr/bin/su");
        assert_eq!(normalize(b"./").unwrap(), b"");
        assert_eq!(normalize(b".").unwrap(), b"");
    }

    #[test]
    fn refuses_hostile_names() {
        assert_eq!(normalize(b"../etc/passwd"), Err(PathError::Traversal));
        assert_eq!(normalize(b"a/../../b"), Err(PathError::Traversal));
        assert_eq!(normalize(b"/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(normalize(b"a\0b"), Err(PathError::Nul));
        assert_eq!(normalize(b""), Err(PathError::Empty));
        assert_eq!(
            normalize(&vec![b'a'; 300]),
            Err(PathError::ComponentTooLong)
        );
        let deep = b"abc/".repeat(1100);
        assert_eq!(normalize(&deep), Err(PathError::TooLong));
    }

    #[test]
    fn keeps_non_utf8_bytes() {
        assert_eq!(normalize(b"caf\xe9/x").unwrap(), b"caf\xe9/x");
    }

    #[test]
    fn resolves_links_inside_the_root() {
        assert_eq!(
            resolve_link(b"etc", b"../usr/lib/os-release").unwrap(),
            b"usr/lib/os-release"
        );
        assert_eq!(
            resolve_link(b"usr/bin", b"/bin/busybox").unwrap(),
            b"bin/busybox"
        );
        assert_eq!(resolve_link(b"", b"/../../etc").unwrap(), b"etc");
        assert_eq!(resolve_link(b"a", b"../../etc/passwd"), None);
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(parent(b"a/b/c"), b"a/b");
        assert_eq!(parent(b"a"), b"");
        assert_eq!(file_name(b"a/b/c"), b"c");
        assert_eq!(join(b"", b"x"), b"x");
        assert_eq!(join(b"a", b"x"), b"a/x");
    }
}
