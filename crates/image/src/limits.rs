//! Bounds that keep hostile input from taking unbounded memory, disk or time.

use std::cell::Cell;
use std::io::{self, Read};

/// Limits applied while reading. The defaults accept every real image seen so far.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON document (manifest, index, config) read into memory.
    pub max_json_bytes: u64,
    /// Largest uncompressed layer.
    pub max_layer_bytes: u64,
    /// A stream may decompress to `max_ratio` × its compressed size (once past `ratio_floor` bytes).
    pub max_ratio: u64,
    /// Output below this size is never called a bomb, whatever the ratio.
    pub ratio_floor: u64,
    /// Most entries in one layer.
    pub max_layer_entries: u64,
    /// Most members in an image archive.
    pub max_members: u64,
    /// Deepest nesting of image indexes.
    pub max_index_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_json_bytes: 16 << 20,
            max_layer_bytes: 64 << 30,
            max_ratio: 1000,
            ratio_floor: 1 << 30,
            max_layer_entries: 5_000_000,
            max_members: 1_000_000,
            max_index_depth: 8,
        }
    }
}

impl Limits {
    /// The most a stream of `compressed` bytes may decompress to.
    pub fn decompressed_cap(&self, compressed: u64) -> u64 {
        compressed
            .saturating_mul(self.max_ratio)
            .max(self.ratio_floor)
            .min(self.max_layer_bytes)
    }
}

/// Fails a read once more than `cap` bytes have passed, and says so through `tripped`
/// (the error itself may come back wrapped by a tar or decompression layer).
pub(crate) struct CappedReader<'a, R> {
    inner: R,
    left: u64,
    tripped: &'a Cell<bool>,
}

impl<'a, R: Read> CappedReader<'a, R> {
    pub(crate) fn new(inner: R, cap: u64, tripped: &'a Cell<bool>) -> Self {
        Self {
            inner,
            left: cap,
            tripped,
        }
    }
}

impl<R: Read> Read for CappedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => {
                self.tripped.set(true);
                Err(io::Error::other("decompressed size limit exceeded"))
            }
        }
    }
}

/// Marks `failed` when the wrapped (decompressing) reader returns an error, so a corrupt
/// stream can be told apart from a malformed tar in it.
pub(crate) struct FailureFlag<'a, R> {
    inner: R,
    failed: &'a Cell<bool>,
}

impl<'a, R: Read> FailureFlag<'a, R> {
    pub(crate) fn new(inner: R, failed: &'a Cell<bool>) -> Self {
        Self { inner, failed }
    }
}

impl<R: Read> Read for FailureFlag<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed.set(true))
    }
}
