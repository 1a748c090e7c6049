//! Test support, not shipped. A tiny DSL that writes images byte by byte, so tests can build any legal or hostile archive:
//! raw tar headers (any name, type, size), layer compression, and every image form.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

pub mod hostile;

/// One tar entry, written exactly as given (no validation: hostile names are the point).
#[derive(Clone, Debug)]
pub struct TarEntry {
    pub name: Vec<u8>,
    pub kind: u8,
    pub mode: u32,
    pub uid: u64,
    pub data: Vec<u8>,
    pub link: Vec<u8>,
    /// Declared size, when it should differ from `data.len()`.
    pub declared_size: Option<u64>,
    /// PAX records written in an `x` header before the entry.
    pub pax: Vec<(String, Vec<u8>)>,
    /// Major and minor numbers of a device entry.
    pub device: (u32, u32),
    /// An `x` header body written as given (malformed PAX records), instead of `pax`.
    pub raw_pax: Option<Vec<u8>>,
}

impl TarEntry {
    fn new(name: &[u8], kind: u8) -> Self {
        Self {
            name: name.to_vec(),
            kind,
            mode: if kind == b'5' { 0o755 } else { 0o644 },
            uid: 0,
            data: Vec::new(),
            link: Vec::new(),
            declared_size: None,
            pax: Vec::new(),
            device: (0, 0),
            raw_pax: None,
        }
    }
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    pub fn pax(mut self, key: &str, value: &[u8]) -> Self {
        self.pax.push((key.to_owned(), value.to_vec()));
        self
    }
    /// Precedes the entry with an `x` header whose body is `body`, byte for byte.
    pub fn raw_pax(mut self, body: &[u8]) -> Self {
        self.raw_pax = Some(body.to_vec());
        self
    }
    pub fn declared(mut self, size: u64) -> Self {
        self.declared_size = Some(size);
        self
    }
}

pub fn file(name: &str, data: &[u8]) -> TarEntry {
    TarEntry {
        data: data.to_vec(),
        ..TarEntry::new(name.as_bytes(), b'0')
    }
}
pub fn raw_file(name: &[u8], data: &[u8]) -> TarEntry {
    TarEntry {
        data: data.to_vec(),
        ..TarEntry::new(name, b'0')
    }
}
pub fn dir(name: &str) -> TarEntry {
    TarEntry::new(name.as_bytes(), b'5')
}
pub fn symlink(name: &str, target: &str) -> TarEntry {
    TarEntry {
        link: target.as_bytes().to_vec(),
        ..TarEntry::new(name.as_bytes(), b'2')
    }
}
pub fn hardlink(name: &str, target: &str) -> TarEntry {
    TarEntry {
        link: target.as_bytes().to_vec(),
        ..TarEntry::new(name.as_bytes(), b'1')
    }
}
pub fn typed(name: &str, kind: u8) -> TarEntry {
    TarEntry::new(name.as_bytes(), kind)
}
/// A character (`b'3'`) or block (`b'4'`) device.
pub fn device(name: &str, kind: u8, major: u32, minor: u32) -> TarEntry {
    TarEntry {
        device: (major, minor),
        ..TarEntry::new(name.as_bytes(), kind).mode(0o666)
    }
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    let text = text.as_bytes();
    let start = text.len().saturating_sub(width);
    field[..width].copy_from_slice(&text[start..]);
    field[width] = 0;
}

fn header(
    name: &[u8],
    kind: u8,
    mode: u32,
    uid: u64,
    size: u64,
    link: &[u8],
    device: (u32, u32),
) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], 0);
    if size < 1 << 33 {
        octal(&mut h[124..136], size);
    } else {
        // GNU base-256: the high bit of the first byte set, the value big-endian in the rest.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], u64::from(device.0));
    octal(&mut h[337..345], u64::from(device.1));
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// A tar stream of these entries, with the two zero blocks at the end.
pub fn tar(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut pax = e.pax.clone();
        if e.name.len() > 100 {
            pax.push(("path".into(), e.name.clone()));
        }
        // A malformed header as given, else the records "<len> <key>=<value>\n" (len counts itself).
        let body = match &e.raw_pax {
            Some(raw) => Some(raw.clone()),
            None if pax.is_empty() => None,
            None => {
                let mut body = Vec::new();
                for (k, v) in &pax {
                    let base = k.len() + v.len() + 3;
                    let mut len = base + base.to_string().len();
                    while base + len.to_string().len() != len {
                        len = base + len.to_string().len();
                    }
                    body.extend_from_slice(format!("{len} {k}=").as_bytes());
                    body.extend_from_slice(v);
                    body.push(b'\n');
                }
                Some(body)
            }
        };
        if let Some(body) = body {
            out.extend_from_slice(&header(
                b"PaxHeaders/x",
                b'x',
                0o644,
                0,
                body.len() as u64,
                b"",
                (0, 0),
            ));
            out.extend_from_slice(&body);
            pad(&mut out);
        }
        let size = e.declared_size.unwrap_or(e.data.len() as u64);
        out.extend_from_slice(&header(
            &e.name, e.kind, e.mode, e.uid, size, &e.link, e.device,
        ));
        out.extend_from_slice(&e.data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// A GitHub classic token (`ghp_`) with `payload` (30 base62 characters) and its valid CRC32
/// checksum: the secrets rules accept it.
pub fn github_token(payload: &str) -> String {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32fast::hash(payload.as_bytes());
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    format!("ghp_{payload}{}", String::from_utf8_lossy(&digits))
}

pub fn sha256(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerCodec {
    Plain,
    Gzip,
    Zstd,
}

impl LayerCodec {
    pub fn encode(self, tar: &[u8]) -> Vec<u8> {
        match self {
            Self::Plain => tar.to_vec(),
            Self::Gzip => gzip(tar),
            Self::Zstd => zstd(tar),
        }
    }
    fn media_type(self) -> &'static str {
        match self {
            Self::Plain => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// How the image is packaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    DockerArchive,
    OciTar,
    OciDir,
    DockerArchiveGz,
    OciTarZst,
    /// Docker 25+ `docker save`: an OCI layout plus a `manifest.json` naming `blobs/sha256/…`.
    DockerArchiveOci,
}

pub const ALL_FORMS: [Form; 6] = [
    Form::DockerArchive,
    Form::OciTar,
    Form::OciDir,
    Form::DockerArchiveGz,
    Form::OciTarZst,
    Form::DockerArchiveOci,
];

/// An image to write: layer tars, their codec, the config, and hooks to break it.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub layers: Vec<Vec<u8>>,
    pub codec: LayerCodec,
    pub history: Vec<(String, bool)>,
    pub user: String,
    /// Replaces a layer's stored blob after digests are computed (truncation, corruption).
    pub tamper_blob: Option<(usize, Vec<u8>)>,
    /// Stores a layer's blob as given, its digest computed from it (concatenated streams).
    pub stored_blob: Option<(usize, Vec<u8>)>,
    /// Replaces the diff_ids written in the config.
    pub diff_ids: Option<Vec<String>>,
    /// Replaces the config document.
    pub config: Option<Vec<u8>>,
}

impl ImageSpec {
    pub fn new(layers: Vec<Vec<TarEntry>>) -> Self {
        let history = (0..layers.len())
            .map(|i| (format!("RUN step {i}"), false))
            .collect();
        Self {
            layers: layers.iter().map(|l| tar(l)).collect(),
            codec: LayerCodec::Gzip,
            history,
            user: "1000".into(),
            tamper_blob: None,
            stored_blob: None,
            diff_ids: None,
            config: None,
        }
    }

    /// The config document as written.
    pub fn config_json(&self) -> Vec<u8> {
        if let Some(c) = &self.config {
            return c.clone();
        }
        let diff_ids: Vec<String> = self
            .diff_ids
            .clone()
            .unwrap_or_else(|| self.layers.iter().map(|l| sha256(l)).collect());
        let history: Vec<serde_json::Value> = self
            .history
            .iter()
            .map(|(c, empty)| serde_json::json!({"created_by": c, "empty_layer": empty}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"User": self.user, "Env": ["PATH=/bin", "TOKEN=x"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }))
        .expect("json")
    }

    /// The stored blobs: (digest, bytes) per layer.
    fn blobs(&self, codec: LayerCodec) -> Vec<(String, Vec<u8>)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let bytes = match &self.stored_blob {
                    Some((j, stored)) if *j == i => stored.clone(),
                    _ => codec.encode(l),
                };
                let digest = sha256(&bytes);
                match &self.tamper_blob {
                    Some((j, replacement)) if *j == i => (digest, replacement.clone()),
                    _ => (digest, bytes),
                }
            })
            .collect()
    }

    /// Writes the image in `form` under `dir`; returns the path to open.
    pub fn write(&self, dir: &Path, form: Form) -> PathBuf {
        match form {
            Form::DockerArchive => {
                let path = dir.join("image.docker.tar");
                fs::write(&path, self.docker_archive()).expect("write");
                path
            }
            Form::DockerArchiveGz => {
                let path = dir.join("image.docker.tar.gz");
                fs::write(&path, gzip(&self.docker_archive())).expect("write");
                path
            }
            Form::OciTar => {
                let path = dir.join("image.oci.tar");
                fs::write(&path, tar(&self.oci_entries(self.codec))).expect("write");
                path
            }
            Form::OciTarZst => {
                let path = dir.join("image.oci.tar.zst");
                fs::write(&path, zstd(&tar(&self.oci_entries(self.codec)))).expect("write");
                path
            }
            Form::DockerArchiveOci => {
                let path = dir.join("image.docker25.tar");
                let mut entries = self.oci_entries(LayerCodec::Plain);
                let config = self.config_json();
                let layers: Vec<String> = self
                    .blobs(LayerCodec::Plain)
                    .iter()
                    .map(|(d, _)| format!("blobs/sha256/{}", &d[7..]))
                    .collect();
                let manifest = serde_json::json!([{
                    "Config": format!("blobs/sha256/{}", &sha256(&config)[7..]),
                    "RepoTags": ["test:latest"],
                    "Layers": layers,
                }]);
                entries.push(file(
                    "manifest.json",
                    &serde_json::to_vec(&manifest).expect("json"),
                ));
                fs::write(&path, tar(&entries)).expect("write");
                path
            }
            Form::OciDir => {
                let root = dir.join("image.oci");
                for e in self.oci_entries(self.codec) {
                    let p = root.join(String::from_utf8(e.name).expect("utf8"));
                    if e.kind == b'5' {
                        fs::create_dir_all(&p).expect("mkdir");
                    } else {
                        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                        fs::write(&p, &e.data).expect("write");
                    }
                }
                root
            }
        }
    }

    /// A docker-archive like podman's: `<hex>.tar` layers, `<hex>.json` config, manifest.json.
    pub fn docker_archive(&self) -> Vec<u8> {
        tar(&self.docker_entries())
    }

    pub fn docker_entries(&self) -> Vec<TarEntry> {
        let config = self.config_json();
        let config_name = format!("{}.json", &sha256(&config)[7..]);
        let blobs = self.blobs(LayerCodec::Plain);
        let layer_names: Vec<String> = blobs
            .iter()
            .map(|(d, _)| format!("{}.tar", &d[7..]))
            .collect();
        let manifest = serde_json::json!([{"Config": config_name, "RepoTags": ["localhost/test:latest"], "Layers": layer_names}]);
        let mut entries = Vec::new();
        for (name, (_, bytes)) in layer_names.iter().zip(&blobs) {
            if !entries.iter().any(|e: &TarEntry| e.name == name.as_bytes()) {
                entries.push(file(name, bytes));
            }
        }
        entries.push(file(&config_name, &config));
        entries.push(file(
            "manifest.json",
            &serde_json::to_vec(&manifest).expect("json"),
        ));
        entries
    }

    pub fn oci_entries(&self, codec: LayerCodec) -> Vec<TarEntry> {
        let config = self.config_json();
        let blobs = self.blobs(codec);
        let layers: Vec<serde_json::Value> = blobs
            .iter()
            .map(|(d, b)| serde_json::json!({"mediaType": codec.media_type(), "digest": d, "size": b.len()}))
            .collect();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": layers,
        }))
        .expect("json");
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(&manifest),
                           "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "test:latest"}}],
        }))
        .expect("json");
        let mut entries = vec![
            file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            file("index.json", &index),
            dir("blobs"),
            dir("blobs/sha256"),
        ];
        let mut add = |digest: &str, bytes: &[u8]| {
            let name = format!("blobs/sha256/{}", &digest[7..]);
            if !entries.iter().any(|e| e.name == name.as_bytes()) {
                entries.push(file(&name, bytes));
            }
        };
        add(&sha256(&manifest), &manifest);
        add(&sha256(&config), &config);
        for (d, b) in &blobs {
            let stated = d.clone();
            add(&stated, b);
        }
        entries
    }
}

/// The image of the spec: a secret written then deleted, a file overwritten, an opaque
/// directory, a dir replaced by a file, links, setuid, an xattr and a long name.
pub fn sample_image() -> ImageSpec {
    let long = format!("opt/{}/file.txt", "d".repeat(120));
    ImageSpec::new(vec![
        vec![
            dir("./"),
            dir("./etc"),
            file("./etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
            dir("./tmp"),
            dir("./usr/bin").mode(0o755),
            file("./usr/bin/tool", b"\x7fELF-not-really").mode(0o4755),
            hardlink("./usr/bin/tool2", "./usr/bin/tool"),
            symlink("./usr/bin/sh", "/bin/busybox"),
            dir("data"),
            file("data/a", b"a"),
            file("data/b", b"b"),
            dir("srv"),
            dir("srv/d"),
            file("srv/d/inner", b"inner"),
            file("srv/v", b"v1"),
            file("usr/bin/ping", b"ping").pax(
                "SCHILY.xattr.security.capability",
                b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            ),
            file(&long, b"long"),
        ],
        vec![
            dir("tmp"),
            file("tmp/secret_key", b"My Big Secret\n"),
            file("srv/v", b"v2"),
        ],
        vec![
            dir("tmp"),
            file("tmp/.wh.secret_key", b""),
            file("srv/v", b"v3"),
        ],
        vec![
            dir("data"),
            file("data/.wh..wh..opq", b""),
            file("data/c", b"c"),
            file("srv/d", b"now a file"),
            file("caf\u{e9}", b"utf8 name"),
            raw_file(b"bin\xff", b"non-utf8 name"),
        ],
    ])
}

/// The repository's `tests/fixtures` directory.
pub fn fixtures_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// `tests/fixtures/real`, the images `tests/fixtures/build-images.sh` builds with real tools.
/// Missing, it is a test failure with a hint, unless `RHARDEN_SKIP_REAL_IMAGES` is set: then
/// `None`, and the caller's test says it was skipped.
pub fn real_fixtures() -> Option<std::path::PathBuf> {
    let real = fixtures_dir().join("real");
    if real.exists() {
        return Some(real);
    }
    if std::env::var_os("RHARDEN_SKIP_REAL_IMAGES").is_some() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: tests/fixtures/real is missing (RHARDEN_SKIP_REAL_IMAGES is set)");
        }
        return None;
    }
    panic!("tests/fixtures/real is missing: run tests/fixtures/build-images.sh first (or set RHARDEN_SKIP_REAL_IMAGES=1)");
}
