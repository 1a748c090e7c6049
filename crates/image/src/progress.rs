//! Progress of a walk, reported through a trait the caller implements (the CLI draws a bar on a
//! terminal); the library itself never prints.

use std::io::{self, Read};
use std::sync::Arc;

use crate::image::LayerInfo;

/// Receives progress while layers are read. Called from worker threads.
pub trait Progress: Send + Sync {
    /// A walk of `total` stored bytes begins.
    fn start(&self, _total: u64) {}
    /// `bytes` more stored bytes were read.
    fn advance(&self, _bytes: u64) {}
    /// A layer has been read.
    fn layer_done(&self, _layer: &LayerInfo) {}
    /// The walk is over.
    fn finish(&self) {}
}

/// Reports bytes read through it, in steps of at least 1 MiB.
pub(crate) struct ProgressReader<R> {
    inner: R,
    progress: Option<Arc<dyn Progress>>,
    pending: u64,
}

const STEP: u64 = 1 << 20;

impl<R: Read> ProgressReader<R> {
    pub(crate) fn new(inner: R, progress: Option<Arc<dyn Progress>>) -> Self {
        Self {
            inner,
            progress,
            pending: 0,
        }
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            self.pending += n as u64;
            if self.pending >= STEP || n == 0 {
                p.advance(self.pending);
                self.pending = 0;
            }
        }
        Ok(n)
    }
}
