//! The image's accounts: `etc/passwd` and `etc/group` as each layer wrote them, captured during
//! the one walk, so that file owners can be checked against the final filesystem's databases.

use std::collections::BTreeSet;

use rharden_image::{Entry, EntryKind, LayerInfo, LayerSink, SinkError, Want};

/// At most this much of each file is kept; real ones are a few KiB.
pub const MAX_ACCOUNTS_FILE: usize = 1 << 20;

/// Which account database a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Passwd,
    Group,
}

impl Database {
    /// Its path in a layer.
    pub fn path(self) -> &'static [u8] {
        match self {
            Self::Passwd => b"etc/passwd",
            Self::Group => b"etc/group",
        }
    }

    fn of(path: &[u8]) -> Option<Self> {
        [Self::Passwd, Self::Group]
            .into_iter()
            .find(|d| d.path() == path)
    }
}

/// One database's content as a layer wrote it (the last entry at its path wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub content: Vec<u8>,
    /// The file was longer than [`MAX_ACCOUNTS_FILE`]; `content` is its beginning.
    pub truncated: bool,
}

impl Captured {
    /// The numeric ids of the third field (`name:x:ID:…`), the uid in passwd, the gid in group.
    /// Lines that do not parse are skipped (a partial last line of a truncated file among them).
    pub fn ids(&self) -> BTreeSet<u64> {
        let mut lines: Vec<&[u8]> = self.content.split(|&b| b == b'\n').collect();
        if self.truncated {
            lines.pop();
        }
        lines
            .into_iter()
            .filter_map(|line| {
                let field = line.split(|&b| b == b':').nth(2)?;
                std::str::from_utf8(field).ok()?.trim().parse().ok()
            })
            .collect()
    }
}

/// A [`LayerSink`] that keeps the content of `etc/passwd` and `etc/group` written by its layer.
#[derive(Debug, Default)]
pub struct AccountsSink {
    passwd: Option<Captured>,
    group: Option<Captured>,
    current: Option<(Database, Captured)>,
}

impl AccountsSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The content this layer wrote for `db`, if it wrote the file.
    pub fn captured(&self, db: Database) -> Option<&Captured> {
        match db {
            Database::Passwd => self.passwd.as_ref(),
            Database::Group => self.group.as_ref(),
        }
    }
}

impl LayerSink for AccountsSink {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        self.current = None;
        let Some(db) = Database::of(entry.path) else {
            return Ok(Want::Skip);
        };
        if entry.kind != EntryKind::File {
            // A later entry of another kind replaces what the layer wrote before.
            match db {
                Database::Passwd => self.passwd = None,
                Database::Group => self.group = None,
            }
            return Ok(Want::Skip);
        }
        let empty = Captured::default();
        if entry.size == 0 {
            // No content will come: the empty file is the layer's version.
            self.current = Some((db, empty));
            self.end_entry()?;
            return Ok(Want::Skip);
        }
        self.current = Some((db, empty));
        Ok(Want::Content)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some((_, captured)) = &mut self.current {
            let room = MAX_ACCOUNTS_FILE.saturating_sub(captured.content.len());
            if chunk.len() > room {
                captured.truncated = true;
            }
            captured
                .content
                .extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        if let Some((db, captured)) = self.current.take() {
            match db {
                Database::Passwd => self.passwd = Some(captured),
                Database::Group => self.group = Some(captured),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_can_go_to_a_parallel_walk() {
        fn walkable<T: LayerSink + Send + std::fmt::Debug>() {}
        walkable::<AccountsSink>();
    }

    #[test]
    fn ids_skip_comments_and_garbage() {
        let c = Captured {
            content: b"root:x:0:0:root:/root:/bin/sh\n# comment\nbad line\napp:x: 1000 :1000::/:/bin/sh\n+::::::\n".to_vec(),
            truncated: false,
        };
        assert_eq!(c.ids().into_iter().collect::<Vec<_>>(), [0, 1000]);
        let t = Captured {
            content: b"root:x:0:0\napp:x:10".to_vec(),
            truncated: true,
        };
        assert_eq!(t.ids().into_iter().collect::<Vec<_>>(), [0]);
    }
}
