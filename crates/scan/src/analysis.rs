//! What every analyzer gets once the walk is over: the image, what reading each layer
//! measured, and every entry of every layer with its fate. Analyzers that need file content
//! collect it in their `LayerSink` during the one walk; the rest work from this alone.

use rharden_image::{FileIndex, FileRecord, Image, LayerReport};

use crate::finding::{Location, Source, Status};

/// The walk's results, shared by every analyzer's `findings` step.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub image: &'a Image,
    pub layers: &'a [LayerReport],
    pub files: &'a FileIndex,
}

impl<'a> Context<'a> {
    /// The build step (`created_by`) that made layer `layer`.
    pub fn step(&self, layer: usize) -> Option<&'a str> {
        self.image.layers.get(layer).and_then(|l| l.created_by())
    }

    /// Where a layer entry is: its layer and step, and whether a later layer removed it.
    pub fn location(&self, record: &FileRecord) -> Location {
        let by = record.fate.by_layer();
        Location {
            source: Source::Layer,
            layer_index: Some(record.layer()),
            layer_digest: self
                .layers
                .get(record.layer())
                .map(|l| l.digest.to_string()),
            created_by: self.step(record.layer()).map(str::to_owned),
            path: display_path(&record.path),
            line: None,
            status: status_of(record.fate),
            removed_in_layer: by,
            removed_by: by.and_then(|b| self.step(b)).map(str::to_owned),
        }
    }

    /// A location in the image config (`key` such as `User` or `ExposedPorts/22/tcp`).
    pub fn config_location(key: &str) -> Location {
        Location {
            source: Source::Config,
            layer_index: None,
            layer_digest: None,
            created_by: None,
            path: key.to_owned(),
            line: None,
            status: Status::Present,
            removed_in_layer: None,
            removed_by: None,
        }
    }

    /// A location in the build history: step `step` (index into the config's history).
    pub fn history_location(&self, step: usize) -> Location {
        let layer = self
            .image
            .layers
            .iter()
            .find(|l| l.history.as_ref().is_some_and(|h| h.index == step))
            .map(|l| l.index);
        Location {
            source: Source::History,
            layer_index: layer,
            layer_digest: layer
                .and_then(|l| self.layers.get(l))
                .map(|l| l.digest.to_string()),
            created_by: self
                .image
                .config
                .history
                .get(step)
                .and_then(|h| h.created_by.clone()),
            path: format!("history/{step}"),
            line: None,
            status: Status::Present,
            removed_in_layer: None,
            removed_by: None,
        }
    }
}

/// A layer path as users see it: absolute, lossy UTF-8.
pub fn display_path(path: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(path))
}

/// The report's word for an entry's fate.
pub fn status_of(fate: rharden_image::Fate) -> Status {
    match fate {
        rharden_image::Fate::Present => Status::Present,
        rharden_image::Fate::Deleted { .. } => Status::Deleted,
        rharden_image::Fate::Overwritten { .. } => Status::Overwritten,
        rharden_image::Fate::Hidden { .. } => Status::Hidden,
    }
}
