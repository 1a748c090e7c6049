//! OCI whiteouts, as the image spec defines them (image-spec layer.md, "Whiteouts"):
//! `dir/.wh.name` deletes `dir/name` from the layers below; `dir/.wh..wh..opq` hides
//! every lower-layer entry under `dir`. Other `.wh..wh.` names are reserved (aufs metadata).

use crate::path;

const PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const RESERVED: &[u8] = b".wh..wh.";

/// What a normalised entry name means.
#[derive(Debug, PartialEq, Eq)]
pub enum Name {
    /// An ordinary entry.
    Plain,
    /// Deletes this path from the lower layers.
    Whiteout(Vec<u8>),
    /// Hides everything lower layers have below this directory.
    Opaque(Vec<u8>),
    /// A reserved `.wh..wh.*` name other than the opaque marker: metadata to skip.
    Reserved,
    /// `.wh.`, `.wh..` or `.wh...`: a whiteout of nothing, or of a parent.
    Invalid,
}

/// Classifies a normalised path by its last component.
pub fn classify(normalized: &[u8]) -> Name {
    let name = path::file_name(normalized);
    if !name.starts_with(PREFIX) {
        return Name::Plain;
    }
    let dir = path::parent(normalized);
    if name == OPAQUE {
        return Name::Opaque(dir.to_vec());
    }
    if name.starts_with(RESERVED) {
        return Name::Reserved;
    }
    match &name[PREFIX.len()..] {
        b"" | b"." | b".." => Name::Invalid,
        target => Name::Whiteout(path::join(dir, target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_whiteouts() {
        assert_eq!(classify(b"usr/bin/ls"), Name::Plain);
        assert_eq!(
            classify(b"tmp/.wh.secret"),
            Name::Whiteout(b"tmp/secret".to_vec())
        );
        assert_eq!(classify(b".wh.etc"), Name::Whiteout(b"etc".to_vec()));
        assert_eq!(
            classify(b"var/cache/.wh..wh..opq"),
            Name::Opaque(b"var/cache".to_vec())
        );
        assert_eq!(classify(b".wh..wh..opq"), Name::Opaque(Vec::new()));
        assert_eq!(classify(b"x/.wh..wh.plnk"), Name::Reserved);
        assert_eq!(classify(b"x/.wh.."), Name::Invalid);
        assert_eq!(classify(b"x/.wh."), Name::Invalid);
        assert_eq!(classify(b"x/.whx"), Name::Plain);
    }
}
