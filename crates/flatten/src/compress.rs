//! Layer compression on every core, deterministically: the stream is cut into fixed-size
//! chunks, each compressed on its own (a gzip member, a zstd frame) in parallel and written in
//! order. Concatenated members and frames are valid gzip and zstd streams (RFC 1952 §2.2,
//! RFC 8878 §3), and the bytes do not depend on the number of threads.

use std::io::{self, Write};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// Uncompressed bytes per independently compressed chunk.
const CHUNK: usize = 2 << 20;
const GZIP_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

/// How the new layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    None,
    Gzip,
    Zstd,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// The OCI media type of a layer in this codec.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    fn compress(self, chunk: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            Self::None => Ok(chunk.to_vec()),
            Self::Gzip => {
                // No name and mtime 0 in the member header: the bytes depend on the data only.
                let mut enc = flate2::GzBuilder::new().mtime(0).write(
                    Vec::with_capacity(chunk.len() / 2),
                    flate2::Compression::new(GZIP_LEVEL),
                );
                enc.write_all(chunk)?;
                enc.finish()
            }
            Self::Zstd => zstd::bulk::compress(chunk, ZSTD_LEVEL),
        }
    }
}

/// Compresses what is written to it and writes the result to `out`, hashing the compressed
/// bytes (the blob digest).
#[derive(Debug)]
pub struct ParallelEncoder<W: Write> {
    out: W,
    codec: Codec,
    batch: Vec<Vec<u8>>,
    current: Vec<u8>,
    batch_len: usize,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> ParallelEncoder<W> {
    pub fn new(out: W, codec: Codec) -> Self {
        // Two chunks per thread in flight: enough to keep every core busy, bounded memory.
        let batch_len = rayon::current_num_threads().max(1) * 2;
        Self {
            out,
            codec,
            batch: Vec::with_capacity(batch_len),
            current: Vec::with_capacity(if codec == Codec::None { 0 } else { CHUNK }),
            batch_len,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn flush_batch(&mut self) -> io::Result<()> {
        let codec = self.codec;
        let compressed: Vec<io::Result<Vec<u8>>> =
            self.batch.par_iter().map(|c| codec.compress(c)).collect();
        self.batch.clear();
        for c in compressed {
            self.emit(&c?)?;
        }
        Ok(())
    }

    /// Compresses what is left; returns the writer, the compressed sha256 and length.
    pub fn finish(mut self) -> io::Result<(W, [u8; 32], u64)> {
        if !self.current.is_empty() {
            let last = std::mem::take(&mut self.current);
            self.batch.push(last);
        }
        self.flush_batch()?;
        self.out.flush()?;
        Ok((self.out, self.hasher.finalize().into(), self.written))
    }
}

impl<W: Write> Write for ParallelEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.codec == Codec::None {
            self.emit(buf)?;
            return Ok(buf.len());
        }
        let take = buf.len().min(CHUNK - self.current.len());
        self.current.extend_from_slice(&buf[..take]);
        if self.current.len() == CHUNK {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
            self.batch.push(full);
            if self.batch.len() == self.batch_len {
                self.flush_batch()?;
            }
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn data() -> Vec<u8> {
        (0..(CHUNK * 5 + 123))
            .map(|i| (i % 251) as u8 ^ (i / 7919) as u8)
            .collect()
    }

    #[test]
    fn gzip_members_decode_as_one_stream() {
        let input = data();
        let mut enc = ParallelEncoder::new(Vec::new(), Codec::Gzip);
        enc.write_all(&input).unwrap();
        let (bytes, _, len) = enc.finish().unwrap();
        assert_eq!(len as usize, bytes.len());
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, input);
    }

    #[test]
    fn zstd_frames_decode_as_one_stream() {
        let input = data();
        let mut enc = ParallelEncoder::new(Vec::new(), Codec::Zstd);
        enc.write_all(&input).unwrap();
        let (bytes, _, _) = enc.finish().unwrap();
        assert_eq!(zstd::decode_all(&bytes[..]).unwrap(), input);
    }

    #[test]
    fn output_does_not_depend_on_thread_count() {
        let input = data();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut enc = ParallelEncoder::new(Vec::new(), Codec::Gzip);
                enc.write_all(&input).unwrap();
                enc.finish().unwrap().0
            })
        };
        assert_eq!(run(1), run(3));
    }
}
