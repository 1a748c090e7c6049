//! A deterministic tar writer: ustar headers, with PAX records only where ustar cannot say it
//! (long names and link targets, big ids, sizes or times, xattrs). Bytes depend on the entries
//! alone, so the same input flattens to the same output.

use std::io::{self, Write};

use rharden_image::Xattr;
use sha2::{Digest as _, Sha256};

const BLOCK: usize = 512;
const USTAR_MAX_ID: u64 = 0o7777777;
const USTAR_MAX_SIZE: u64 = 0o77777777777;

/// One entry to write.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// Normalised path (no leading `/`); directories get a trailing `/` here.
    pub path: &'a [u8],
    /// Tar type flag: `b'0'` file, `b'1'` hardlink, `b'2'` symlink, `b'3'`/`b'4'` devices,
    /// `b'5'` directory, `b'6'` fifo.
    pub kind: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    pub link: &'a [u8],
    pub device: (u32, u32),
    pub xattrs: &'a [Xattr],
}

/// Writes entries to `W`, hashing the uncompressed stream (the layer's diff_id).
#[derive(Debug)]
pub struct TarWriter<W: Write> {
    out: W,
    hasher: Sha256,
    written: u64,
    /// Content bytes the current entry still expects.
    remaining: u64,
    entries: u64,
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    let bytes = text.as_bytes();
    let start = bytes.len().saturating_sub(width);
    field[..width].copy_from_slice(&bytes[start..]);
    field[width] = 0;
}

fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    // "<len> <key>=<value>\n", where len counts the whole record, its own digits included.
    let base = key.len() + value.len() + 3;
    let mut len = base + base.to_string().len();
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn ustar(name: &[u8], kind: u8, h: &Header<'_>, size: u64) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    let n = name.len().min(100);
    b[..n].copy_from_slice(&name[..n]);
    octal(&mut b[100..108], u64::from(h.mode & 0o7777));
    octal(&mut b[108..116], h.uid.min(USTAR_MAX_ID));
    octal(&mut b[116..124], h.gid.min(USTAR_MAX_ID));
    octal(&mut b[124..136], size.min(USTAR_MAX_SIZE));
    octal(&mut b[136..148], h.mtime.min(USTAR_MAX_SIZE));
    b[156] = kind;
    let l = h.link.len().min(100);
    b[157..157 + l].copy_from_slice(&h.link[..l]);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    if matches!(kind, b'3' | b'4') {
        octal(&mut b[329..337], u64::from(h.device.0));
        octal(&mut b[337..345], u64::from(h.device.1));
    }
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    octal(&mut b[148..155], u64::from(sum));
    b[155] = b' ';
    b
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            hasher: Sha256::new(),
            written: 0,
            remaining: 0,
            entries: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let rem = (self.written % BLOCK as u64) as usize;
        if rem != 0 {
            self.put(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Writes an entry's header; a file's content follows through [`content`](Self::content).
    pub fn entry(&mut self, h: &Header<'_>) -> io::Result<()> {
        if self.remaining != 0 {
            return Err(io::Error::other("previous entry's content is incomplete"));
        }
        let mut name = h.path.to_vec();
        if h.kind == b'5' && !name.ends_with(b"/") {
            name.push(b'/');
        }
        if name.is_empty() || name == b"/" {
            name = b"./".to_vec();
        }
        let mut pax = Vec::new();
        if name.len() > 100 {
            pax_record(&mut pax, b"path", &name);
        }
        if h.link.len() > 100 {
            pax_record(&mut pax, b"linkpath", h.link);
        }
        if h.uid > USTAR_MAX_ID {
            pax_record(&mut pax, b"uid", h.uid.to_string().as_bytes());
        }
        if h.gid > USTAR_MAX_ID {
            pax_record(&mut pax, b"gid", h.gid.to_string().as_bytes());
        }
        if h.size > USTAR_MAX_SIZE {
            pax_record(&mut pax, b"size", h.size.to_string().as_bytes());
        }
        if h.mtime > USTAR_MAX_SIZE {
            pax_record(&mut pax, b"mtime", h.mtime.to_string().as_bytes());
        }
        for x in h.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(&x.name);
            pax_record(&mut pax, &key, &x.value);
        }
        if !pax.is_empty() {
            let pax_header = Header {
                kind: b'x',
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 0,
                link: b"",
                xattrs: &[],
                ..*h
            };
            let block = ustar(b"././@PaxHeader", b'x', &pax_header, pax.len() as u64);
            self.put(&block)?;
            self.put(&pax)?;
            self.pad()?;
        }
        let block = ustar(&name, h.kind, h, h.size);
        self.put(&block)?;
        self.entries += 1;
        self.remaining = if h.kind == b'0' { h.size } else { 0 };
        Ok(())
    }

    /// The next bytes of the current file.
    pub fn content(&mut self, chunk: &[u8]) -> io::Result<()> {
        if chunk.len() as u64 > self.remaining {
            return Err(io::Error::other("more content than the header declared"));
        }
        self.remaining -= chunk.len() as u64;
        self.put(chunk)
    }

    /// Ends the current file: checks its length and pads to a block.
    pub fn end_entry(&mut self) -> io::Result<()> {
        if self.remaining != 0 {
            return Err(io::Error::other(format!(
                "content is {} bytes short of its header",
                self.remaining
            )));
        }
        self.pad()
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Writes the end-of-archive blocks; returns the writer, the stream's sha256 and length.
    pub fn finish(mut self) -> io::Result<(W, [u8; 32], u64)> {
        self.put(&[0u8; BLOCK * 2])?;
        self.out.flush()?;
        Ok((self.out, self.hasher.finalize().into(), self.written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_tar_crate() {
        let mut w = TarWriter::new(Vec::new());
        let long = format!("a/{}", "n".repeat(150));
        let xattrs = [Xattr {
            name: b"security.capability".to_vec(),
            value: vec![1, 0, 0, 2],
        }];
        let base = Header {
            path: b"",
            kind: b'5',
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 1_700_000_000,
            link: b"",
            device: (0, 0),
            xattrs: &[],
        };
        w.entry(&Header { path: b"a", ..base }).unwrap();
        w.entry(&Header {
            path: long.as_bytes(),
            kind: b'0',
            mode: 0o4755,
            size: 3,
            uid: 1 << 30,
            xattrs: &xattrs,
            ..base
        })
        .unwrap();
        w.content(b"abc").unwrap();
        w.end_entry().unwrap();
        w.entry(&Header {
            path: b"a/l",
            kind: b'2',
            link: b"/x",
            ..base
        })
        .unwrap();
        let (bytes, _, len) = w.finish().unwrap();
        assert_eq!(len as usize, bytes.len());
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut xattr = None;
            if let Some(exts) = e.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    if ext.key_bytes().starts_with(b"SCHILY.xattr.") {
                        xattr = Some(ext.value_bytes().to_vec());
                    }
                }
            }
            seen.push((path, e.header().mode().unwrap(), e.size(), xattr));
        }
        assert_eq!(seen[0].0, "a/");
        assert_eq!(seen[1], (long.clone(), 0o4755, 3, Some(vec![1, 0, 0, 2])));
        assert_eq!(seen[2].0, "a/l");
    }

    #[test]
    fn refuses_wrong_content_lengths() {
        let mut w = TarWriter::new(Vec::new());
        let h = Header {
            path: b"f",
            kind: b'0',
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 2,
            mtime: 0,
            link: b"",
            device: (0, 0),
            xattrs: &[],
        };
        w.entry(&h).unwrap();
        assert!(w.content(b"abc").is_err());
        w.content(b"a").unwrap();
        assert!(w.end_entry().is_err());
    }
}
