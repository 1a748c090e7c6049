//! Writes the squashed layer: directories first (from metadata), then kept whiteouts, then
//! every winning entry as its layer streams by (one sequential walk), then hardlinks last.

use std::io::Write;

use rharden_image::{
    Entry, EntryKind, FileIndex, FileRecord, Image, LayerInfo, LayerSink, SinkError, Want, Xattr,
};

use crate::error::FlattenError;
use crate::plan::{Cursor, Plan};
use crate::tar::{Header, TarWriter};

fn type_flag(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => b'0',
        EntryKind::Hardlink => b'1',
        EntryKind::Symlink => b'2',
        EntryKind::CharDevice => b'3',
        EntryKind::BlockDevice => b'4',
        EntryKind::Dir => b'5',
        EntryKind::Fifo => b'6',
        // Whiteouts are written as the empty files that encode them.
        EntryKind::Whiteout | EntryKind::OpaqueWhiteout => b'0',
    }
}

fn header<'a>(r: &'a FileRecord, path: &'a [u8], kind: EntryKind, link: &'a [u8]) -> Header<'a> {
    Header {
        path,
        kind: type_flag(kind),
        mode: r.mode,
        uid: r.uid,
        gid: r.gid,
        size: if kind == EntryKind::File { r.size } else { 0 },
        mtime: r.mtime,
        link,
        device: r.device().unwrap_or((0, 0)),
        xattrs: r.xattrs(),
    }
}

const NO_XATTRS: &[Xattr] = &[];

/// Copies the winners of each layer into the tar as the walk streams them.
/// Every entry it writes is also shown to `observer`, with its content: whatever the observer
/// concludes is about the output's bytes, not about a model of them.
struct CopySink<'a, W: Write> {
    plan: &'a Plan,
    files: &'a FileIndex,
    tar: &'a mut TarWriter<W>,
    cursor: Cursor,
    copying: Option<(Box<[u8]>, u64)>,
    copied: u64,
    observer: &'a mut dyn LayerSink,
    observing: bool,
}

impl<W: Write> LayerSink for CopySink<'_, W> {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        self.observing = false;
        let Some((r, path)) = self.cursor.next(layer.index, self.plan, self.files) else {
            return Ok(Want::Skip);
        };
        let link = r.link_target().unwrap_or_default();
        self.tar.entry(&header(r, path, r.kind, link))?;
        self.observing = self.observer.entry(layer, entry)? == Want::Content;
        if r.kind == EntryKind::File {
            self.copying = Some((path.into(), r.size));
            self.copied = 0;
            return Ok(Want::Content);
        }
        Ok(Want::Skip)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        self.copied += chunk.len() as u64;
        self.tar.content(chunk)?;
        if self.observing {
            self.observer.content(chunk)?;
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        if std::mem::take(&mut self.observing) {
            self.observer.end_entry()?;
        }
        if let Some((path, want)) = self.copying.take() {
            if self.copied != want {
                return Err(Box::new(FlattenError::SizeMismatch {
                    path: String::from_utf8_lossy(&path).into_owned(),
                    got: self.copied,
                    want,
                }));
            }
        }
        self.tar.end_entry()?;
        Ok(())
    }
}

/// Writes the whole squashed layer into `tar`. Every layer is streamed once more (the first
/// pass, which made `files`, decided what wins).
pub fn write_layer<W: Write>(
    image: &Image,
    files: &FileIndex,
    plan: &Plan,
    tar: &mut TarWriter<W>,
    observer: &mut dyn LayerSink,
) -> Result<(), FlattenError> {
    let io = |source| FlattenError::Compress { source };
    for &(l, p) in &plan.dirs {
        let r = &files.layers[l][p];
        tar.entry(&header(r, &r.path, EntryKind::Dir, b""))
            .map_err(io)?;
    }
    for path in &plan.whiteouts {
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], &path[..]),
        };
        let mut marker = dir.to_vec();
        if !marker.is_empty() {
            marker.push(b'/');
        }
        marker.extend_from_slice(b".wh.");
        marker.extend_from_slice(name);
        let h = Header {
            path: &marker,
            kind: b'0',
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            link: b"",
            device: (0, 0),
            xattrs: NO_XATTRS,
        };
        tar.entry(&h).map_err(io)?;
        tar.end_entry().map_err(io)?;
    }
    let mut sink = CopySink {
        plan,
        files,
        tar: &mut *tar,
        cursor: Cursor::default(),
        copying: None,
        copied: 0,
        observer,
        observing: false,
    };
    image.walk_each(&mut sink)?;
    for link in &plan.links {
        let r = &files.layers[link.record.0][link.record.1];
        tar.entry(&header(r, &r.path, EntryKind::Hardlink, &link.target))
            .map_err(io)?;
    }
    Ok(())
}
