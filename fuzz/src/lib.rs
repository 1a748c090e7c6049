//! What the fuzz targets share: a scratch directory per process (on tmpfs) and a full read of
//! an image, every entry's content included, the way `scan` and `flatten` read it.

use std::path::{Path, PathBuf};

use rharden_image::{Entry, EntryKind, Image, LayerInfo, LayerSink, OpenOptions, SinkError, Want};

/// A directory of this process's own under /dev/shm (or the temp dir), emptied on each call.
pub fn scratch() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("rharden-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Takes every byte of every regular file, and checks that the walker's promises hold.
#[derive(Debug, Default)]
pub struct ReadAll {
    expected: u64,
    seen: u64,
    open: bool,
}

impl LayerSink for ReadAll {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        assert!(!self.open, "entry() before end_entry() of the previous one");
        assert!(
            !entry.path.starts_with(b"/"),
            "absolute path reached a sink"
        );
        assert!(
            !entry.path.split(|&b| b == b'/').any(|c| c == b".."),
            "a `..` component reached a sink"
        );
        self.expected = entry.size;
        self.seen = 0;
        // Content (and end_entry) come for regular files only.
        self.open = entry.kind == EntryKind::File;
        Ok(Want::Content)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        self.seen += chunk.len() as u64;
        assert!(
            self.seen <= self.expected,
            "more content than the entry declared"
        );
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        self.open = false;
        Ok(())
    }
}

/// Opens `path` and walks every layer; errors are fine, panics and broken promises are not.
pub fn read_image(path: &Path) -> Option<Image> {
    let image = Image::open(path, &OpenOptions::default()).ok()?;
    let _ = image.walk(|_| ReadAll::default());
    Some(image)
}

/// Flatten options for the targets: a docker-archive with an uncompressed layer (the cheapest
/// output that still goes through the whole merge and writer).
pub fn flatten_options() -> rharden_flatten::FlattenOptions {
    rharden_flatten::FlattenOptions {
        format: Some(rharden_flatten::OutputFormat::DockerArchive),
        compression: Some(rharden_flatten::Codec::None),
        ..rharden_flatten::FlattenOptions::default()
    }
}
