//! The bloat summary: the numbers behind the findings, for reports (the JSON report, the HTML
//! per-layer table and chart).

use serde::Serialize;

use crate::finding::Status;

/// The image's bloat in numbers, for reports (the HTML per-layer table and chart).
#[derive(Debug, Clone, Serialize)]
pub struct BloatSummary {
    /// dive's efficiency score: Σ over paths of the smallest size stored at the path, divided by
    /// Σ of every size stored at every path (whiteouts of directories weigh what they delete);
    /// 1 for an image with no bytes.
    pub efficiency: f64,
    /// Bytes of regular files stored in layers that are not in the final filesystem.
    pub wasted_bytes: u64,
    /// dive's "wasted bytes": every version of every path stored more than once, kept one included.
    pub dive_wasted_bytes: u64,
    /// Sum of the sizes of the regular files of all layers.
    pub total_bytes: u64,
    /// Sum of the sizes of the regular files of the final filesystem.
    pub final_bytes: u64,
    pub layers: Vec<LayerBloat>,
    /// Indexes into `layers` of the biggest layers (by file bytes), biggest first.
    pub biggest_layers: Vec<usize>,
    /// The biggest files of the final filesystem.
    pub biggest_files: Vec<FileBloat>,
    /// The biggest files stored but not in the final filesystem.
    pub wasted_files: Vec<FileBloat>,
    pub leftovers: Vec<LeftoverBloat>,
    /// Groups of identical content at several paths, most wasted bytes first.
    pub duplicates: Vec<DuplicateGroup>,
    /// Bytes that one copy per group would save.
    pub duplicate_wasted_bytes: u64,
    pub toolchains: Vec<ToolchainBloat>,
    /// Files smaller than this were not hashed for duplicates.
    pub min_hashed_size: u64,
}

/// One layer's share.
#[derive(Debug, Clone, Serialize)]
pub struct LayerBloat {
    pub index: usize,
    pub digest: Option<String>,
    /// The build step that made the layer.
    pub created_by: Option<String>,
    /// Sum of the sizes of the layer's regular files (uncompressed file bytes).
    pub size: u64,
    /// The blob as stored, and the uncompressed tar.
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Regular files in the layer.
    pub files: u64,
    /// Bytes this layer stores that a later layer removes.
    pub wasted_bytes: u64,
    /// Bytes of lower layers that this layer's step deletes, overwrites or hides.
    pub removed_bytes: u64,
}

/// One file, where it is and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct FileBloat {
    pub path: String,
    pub layer: usize,
    pub size: u64,
    pub status: Status,
    pub removed_in_layer: Option<usize>,
}

/// A package manager's leftovers in the final filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct LeftoverBloat {
    pub kind: &'static str,
    pub bytes: u64,
    pub files: u64,
    /// The layers that left them, most bytes first.
    pub layers: Vec<usize>,
}

/// The same content at several paths.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateGroup {
    pub sha256: String,
    /// Size of one copy.
    pub size: u64,
    pub paths: Vec<String>,
    /// `size × (copies − 1)`.
    pub wasted_bytes: u64,
}

/// A toolchain (or package manager) in the final filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct ToolchainBloat {
    pub name: &'static str,
    pub bytes: u64,
    pub files: u64,
    pub layers: Vec<usize>,
}
