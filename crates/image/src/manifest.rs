//! Finds the one image in a source: Docker's `manifest.json`, or an OCI `index.json` (nested
//! indexes included), chosen by reference name and platform.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::archive::{Blob, Source};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::limits::Limits;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The image layout, recognised from the archive's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ImageFormat {
    /// `docker save` / `podman save --format docker-archive`: `manifest.json` naming layer tars.
    #[serde(rename = "docker-archive")]
    DockerArchive,
    /// Docker 25+ `docker save`: an OCI layout with a `manifest.json` beside it.
    #[serde(rename = "docker-archive-oci")]
    DockerArchiveOci,
    /// An OCI image layout in a tar (`podman save --format oci-archive`, `skopeo copy oci-archive:`).
    #[serde(rename = "oci-archive")]
    OciArchive,
    /// An OCI image layout directory.
    #[serde(rename = "oci-dir")]
    OciDir,
}

impl ImageFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::DockerArchive => "docker-archive",
            Self::DockerArchiveOci => "docker-archive-oci",
            Self::OciArchive => "oci-archive",
            Self::OciDir => "oci-dir",
        }
    }
}

/// Which image to pick when the source holds several.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// A reference name (`busybox:latest`, `localhost/busybox:latest`, or just the tag).
    pub reference: Option<String>,
    /// `os/arch[/variant]`; when unset, the host's platform breaks ties.
    pub platform: Option<String>,
}

/// A layer as the manifest describes it.
#[derive(Debug, Clone)]
pub(crate) struct LayerDesc {
    pub blob: Blob,
    pub digest: Option<Digest>,
    pub media_type: Option<String>,
}

/// The chosen image before its layers are read.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub format: ImageFormat,
    pub reference: Option<String>,
    pub manifest_digest: Option<Digest>,
    pub config_name: String,
    pub config_bytes: Vec<u8>,
    pub config_digest: Digest,
    pub layers: Vec<LayerDesc>,
}

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Deserialize, Clone)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

impl Platform {
    fn text(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{}", self.os, self.architecture, v),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Deserialize)]
struct Index {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

fn parse<T: DeserializeOwned>(member: &str, bytes: &[u8]) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|source| ImageError::Json {
        member: member.to_owned(),
        source,
    })
}

fn digest_of(member: &str, value: &str) -> Result<Digest, ImageError> {
    Digest::parse(value).ok_or_else(|| ImageError::BadDigest {
        member: member.to_owned(),
        value: value.to_owned(),
    })
}

/// Reads a blob named by a descriptor and checks its size and digest.
fn read_verified(
    source: &Source,
    referrer: &str,
    desc: &Descriptor,
    limits: &Limits,
) -> Result<(Digest, Vec<u8>), ImageError> {
    let digest = digest_of(referrer, &desc.digest)?;
    let blob = source.resolve(referrer, &digest.blob_path())?;
    let bytes = source.read_small(&blob, limits.max_json_bytes)?;
    check_digest(&blob.name, &digest, &bytes)?;
    if let Some(size) = desc.size {
        if size != bytes.len() as u64 {
            return Err(ImageError::Invalid {
                member: blob.name,
                problem: format!("{referrer} says it is {size} bytes; it is {}", bytes.len()),
            });
        }
    }
    Ok((digest, bytes))
}

fn check_digest(member: &str, expected: &Digest, bytes: &[u8]) -> Result<(), ImageError> {
    let actual = Digest::of(bytes);
    if &actual != expected {
        return Err(ImageError::DigestMismatch {
            what: member.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

/// The host platform as OCI names it.
pub(crate) fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

fn platform_matches(wanted: &str, have: &str) -> bool {
    // `linux/arm64` matches `linux/arm64/v8`; a variant asked for must match.
    have == wanted || have.starts_with(&format!("{wanted}/"))
}

fn reference_matches(wanted: &str, name: &str) -> bool {
    name == wanted
        || name.rsplit_once(':').is_some_and(|(_, tag)| tag == wanted)
        || name.strip_prefix("localhost/").is_some_and(|n| n == wanted)
        || name
            .strip_prefix("docker.io/library/")
            .is_some_and(|n| n == wanted)
}

/// Picks the image: by `manifest.json` when present (docker-archive), else by `index.json`.
pub(crate) fn resolve(
    source: &Source,
    selector: &Selector,
    limits: &Limits,
) -> Result<Resolved, ImageError> {
    let has_manifest = source.has("manifest.json");
    let has_index = source.has("index.json");
    if has_manifest {
        let format = if has_index {
            ImageFormat::DockerArchiveOci
        } else {
            ImageFormat::DockerArchive
        };
        return resolve_docker(source, selector, format, limits);
    }
    if has_index {
        let format = if source.is_dir() {
            ImageFormat::OciDir
        } else {
            ImageFormat::OciArchive
        };
        return resolve_oci(source, selector, format, limits);
    }
    Err(ImageError::Invalid {
        member: "the archive".into(),
        problem: "it has neither manifest.json (docker-archive) nor index.json (OCI layout)".into(),
    })
}

fn resolve_docker(
    source: &Source,
    selector: &Selector,
    format: ImageFormat,
    limits: &Limits,
) -> Result<Resolved, ImageError> {
    let blob = source.resolve("the archive", "manifest.json")?;
    let bytes = source.read_small(&blob, limits.max_json_bytes)?;
    let entries: Vec<DockerManifestEntry> = parse("manifest.json", &bytes)?;
    let describe = |e: &DockerManifestEntry| match &e.repo_tags {
        Some(tags) if !tags.is_empty() => tags.join(","),
        _ => e.config.clone(),
    };
    let available = entries.iter().map(describe).collect::<Vec<_>>().join("; ");
    let mut candidates: Vec<&DockerManifestEntry> = entries.iter().collect();
    if let Some(wanted) = &selector.reference {
        candidates.retain(|e| {
            e.repo_tags
                .iter()
                .flatten()
                .any(|t| reference_matches(wanted, t))
        });
        if candidates.is_empty() {
            return Err(ImageError::NoMatchingImage {
                wanted: format!("reference {wanted}"),
                available,
            });
        }
    }
    let entry = match candidates.as_slice() {
        [] => return Err(ImageError::NoLayers),
        [one] => *one,
        _ => return Err(ImageError::AmbiguousImage { available }),
    };
    let config_blob = source.resolve("manifest.json", &entry.config)?;
    let config_bytes = source.read_small(&config_blob, limits.max_json_bytes)?;
    let config_digest = match name_digest(&config_blob.name) {
        Some(expected) => {
            check_digest(&config_blob.name, &expected, &config_bytes)?;
            expected
        }
        None => Digest::of(&config_bytes),
    };
    let layers = entry
        .layers
        .iter()
        .map(|name| {
            let blob = source.resolve("manifest.json", name)?;
            // `blobs/sha256/<hex>` (Docker 25+) names its digest; `<hex>.tar` (podman) names the
            // uncompressed digest, which the diff_id check covers; `<id>/layer.tar` names neither.
            let digest = blob
                .name
                .strip_prefix("blobs/sha256/")
                .and_then(Digest::from_hex);
            Ok(LayerDesc {
                blob,
                digest,
                media_type: None,
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    let reference = entry.repo_tags.as_ref().and_then(|t| t.first().cloned());
    Ok(Resolved {
        format,
        reference,
        manifest_digest: None,
        config_name: config_blob.name,
        config_bytes,
        config_digest,
        layers,
    })
}

/// `<hex>.json` or `blobs/sha256/<hex>`: a config name that states its own digest.
fn name_digest(name: &str) -> Option<Digest> {
    let file = name.rsplit('/').next().unwrap_or(name);
    let hex = file.strip_suffix(".json").unwrap_or(file);
    Digest::from_hex(hex)
}

struct Candidate {
    desc: Descriptor,
    reference: Option<String>,
    platform: Option<String>,
}

fn collect_candidates(
    source: &Source,
    member: &str,
    index: &Index,
    inherited_ref: Option<&str>,
    depth: usize,
    limits: &Limits,
    out: &mut Vec<Candidate>,
) -> Result<(), ImageError> {
    if depth > limits.max_index_depth {
        return Err(ImageError::IndexTooDeep {
            limit: limits.max_index_depth,
        });
    }
    for desc in &index.manifests {
        let annotations = desc.annotations.as_ref();
        let reference = annotations
            .and_then(|a| a.get(REF_NAME).or_else(|| a.get(CONTAINERD_NAME)))
            .map(String::as_str)
            .or(inherited_ref);
        // BuildKit attestations sit in the index as `unknown/unknown` manifests: not images.
        if annotations.is_some_and(|a| a.contains_key("vnd.docker.reference.type")) {
            continue;
        }
        let media = desc.media_type.as_deref().unwrap_or("");
        if media == OCI_INDEX || media == DOCKER_LIST {
            let (_, bytes) = read_verified(source, member, desc, limits)?;
            let nested: Index = parse(&desc.digest, &bytes)?;
            collect_candidates(
                source,
                &desc.digest,
                &nested,
                reference,
                depth + 1,
                limits,
                out,
            )?;
            continue;
        }
        let platform = desc.platform.as_ref().map(Platform::text);
        if platform.as_deref() == Some("unknown/unknown") {
            continue;
        }
        out.push(Candidate {
            desc: desc.clone(),
            reference: reference.map(str::to_owned),
            platform,
        });
    }
    Ok(())
}

fn resolve_oci(
    source: &Source,
    selector: &Selector,
    format: ImageFormat,
    limits: &Limits,
) -> Result<Resolved, ImageError> {
    if source.has("oci-layout") {
        let blob = source.resolve("the archive", "oci-layout")?;
        let bytes = source.read_small(&blob, limits.max_json_bytes)?;
        let layout: serde_json::Value = parse("oci-layout", &bytes)?;
        let version = layout
            .get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !version.starts_with("1.") {
            return Err(ImageError::Invalid {
                member: "oci-layout".into(),
                problem: format!("unsupported imageLayoutVersion {version:?}"),
            });
        }
    }
    let blob = source.resolve("the archive", "index.json")?;
    let bytes = source.read_small(&blob, limits.max_json_bytes)?;
    let index: Index = parse("index.json", &bytes)?;
    if let Some(media) = &index.media_type {
        if media != OCI_INDEX && media != DOCKER_LIST {
            return Err(ImageError::Invalid {
                member: "index.json".into(),
                problem: format!("unexpected mediaType {media}"),
            });
        }
    }
    let mut candidates = Vec::new();
    collect_candidates(
        source,
        "index.json",
        &index,
        None,
        0,
        limits,
        &mut candidates,
    )?;
    let describe = |c: &Candidate| {
        format!(
            "{} ({})",
            c.reference.as_deref().unwrap_or("<no name>"),
            c.platform.as_deref().unwrap_or("any platform")
        )
    };
    let available = if candidates.is_empty() {
        "no images".to_owned()
    } else {
        candidates
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = &selector.reference {
        candidates.retain(|c| {
            c.reference
                .as_deref()
                .is_some_and(|r| reference_matches(wanted, r))
        });
        if candidates.is_empty() {
            return Err(ImageError::NoMatchingImage {
                wanted: format!("reference {wanted}"),
                available,
            });
        }
    }
    if let Some(wanted) = &selector.platform {
        candidates.retain(|c| {
            c.platform
                .as_deref()
                .is_none_or(|p| platform_matches(wanted, p))
        });
        if candidates.is_empty() {
            return Err(ImageError::NoMatchingImage {
                wanted: format!("platform {wanted}"),
                available,
            });
        }
    }
    if candidates.len() > 1 {
        let host = host_platform();
        let on_host: Vec<usize> = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.platform
                    .as_deref()
                    .is_some_and(|p| platform_matches(&host, p))
            })
            .map(|(i, _)| i)
            .collect();
        if let [i] = on_host[..] {
            let chosen = candidates.swap_remove(i);
            candidates = vec![chosen];
        }
    }
    if candidates.len() > 1
        && candidates
            .iter()
            .all(|c| c.desc.digest == candidates[0].desc.digest)
    {
        candidates.truncate(1);
    }
    let chosen = match candidates.len() {
        0 => {
            return Err(ImageError::NoMatchingImage {
                wanted: "an image manifest".into(),
                available,
            })
        }
        1 => candidates.remove(0),
        _ => return Err(ImageError::AmbiguousImage { available }),
    };
    let (manifest_digest, bytes) = read_verified(source, "index.json", &chosen.desc, limits)?;
    let manifest_member = manifest_digest.blob_path();
    let manifest: Manifest = parse(&manifest_member, &bytes)?;
    if let Some(media) = &manifest.media_type {
        if media.contains("index") || media.contains("list") {
            return Err(ImageError::Invalid {
                member: manifest_member,
                problem: format!("expected an image manifest, found {media}"),
            });
        }
    }
    let (config_digest, config_bytes) =
        read_verified(source, &manifest_member, &manifest.config, limits)?;
    let layers = manifest
        .layers
        .iter()
        .map(|desc| {
            let digest = digest_of(&manifest_member, &desc.digest)?;
            let blob = source.resolve(&manifest_member, &digest.blob_path())?;
            if let Some(size) = desc.size {
                if size != blob.size {
                    return Err(ImageError::Invalid {
                        member: blob.name,
                        problem: format!(
                            "the manifest says it is {size} bytes; it is {}",
                            blob.size
                        ),
                    });
                }
            }
            Ok(LayerDesc {
                blob,
                digest: Some(digest),
                media_type: desc.media_type.clone(),
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    Ok(Resolved {
        format,
        reference: chosen.reference,
        manifest_digest: Some(manifest_digest),
        config_name: config_digest.blob_path(),
        config_bytes,
        config_digest,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_references_and_platforms() {
        assert!(reference_matches(
            "busybox:latest",
            "localhost/busybox:latest"
        ));
        assert!(reference_matches("latest", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
        assert!(platform_matches("linux/arm64", "linux/arm64/v8"));
        assert!(!platform_matches("linux/arm", "linux/arm64"));
    }

    #[test]
    fn config_names_that_state_digests() {
        let hex = "a".repeat(64);
        assert!(name_digest(&format!("{hex}.json")).is_some());
        assert!(name_digest(&format!("blobs/sha256/{hex}")).is_some());
        assert!(name_digest("config.json").is_none());
    }
}
