//! Layers of files, directories, links and whiteouts over a small alphabet of names, so that
//! layers collide often: the merge (whiteouts, opaque directories, links across layers) must
//! give the same tree to `flatten` and `unpack`, flatten's output must read back, and two
//! flattens must give identical bytes.
#![no_main]

use std::collections::BTreeSet;
use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rharden_image::{Entry, EntryKind, Image, LayerInfo, LayerSink, OpenOptions, SinkError, Want};
use rharden_testkit::{dir, file, hardlink, symlink, ImageSpec, LayerCodec, TarEntry};

const COMPONENTS: [&str; 4] = ["a", "b", "c", "."];
const LINK_TARGETS: [&str; 7] = ["a", "b/c", "..", "/", "../../a", "/a/b", "a/../b"];

#[derive(Arbitrary, Debug)]
struct Name(Vec<u8>);

impl Name {
    fn render(&self) -> String {
        let parts: Vec<&str> = self
            .0
            .iter()
            .take(3)
            .map(|&b| COMPONENTS[b as usize % COMPONENTS.len()])
            .collect();
        if parts.is_empty() {
            "a".into()
        } else {
            parts.join("/")
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    File(Name, u8),
    Dir(Name),
    Symlink(Name, u8),
    Hardlink(Name, Name),
    Whiteout(Name),
    Opaque(Name),
}

fn with_last(name: &str, f: impl Fn(&str) -> String) -> String {
    match name.rsplit_once('/') {
        Some((parent, last)) => format!("{parent}/{}", f(last)),
        None => f(name),
    }
}

impl Op {
    fn entry(&self) -> TarEntry {
        match self {
            Op::File(n, b) => file(&n.render(), &[*b; 3]),
            Op::Dir(n) => dir(&n.render()),
            Op::Symlink(n, t) => {
                symlink(&n.render(), LINK_TARGETS[*t as usize % LINK_TARGETS.len()])
            }
            Op::Hardlink(n, t) => hardlink(&n.render(), &t.render()),
            Op::Whiteout(n) => file(&with_last(&n.render(), |l| format!(".wh.{l}")), b""),
            Op::Opaque(n) => file(&format!("{}/.wh..wh..opq", n.render()), b""),
        }
    }
}

/// Non-directory paths of an image's entries (the flattened image has one layer).
#[derive(Default)]
struct Paths(BTreeSet<Vec<u8>>);

impl LayerSink for Paths {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        if entry.kind != EntryKind::Dir {
            self.0.insert(entry.path.to_vec());
        }
        Ok(Want::Skip)
    }
}

fn tree(root: &Path, at: &Path, out: &mut BTreeSet<Vec<u8>>) {
    use std::os::unix::ffi::OsStrExt;
    for e in std::fs::read_dir(at).expect("read unpacked dir").flatten() {
        let path = e.path();
        let kind = e.file_type().expect("file type");
        if kind.is_dir() {
            tree(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("below root");
            out.insert(rel.as_os_str().as_bytes().to_vec());
        }
    }
}

fuzz_target!(|layers: Vec<Vec<Op>>| {
    if layers.is_empty() || layers.len() > 6 || layers.iter().any(|l| l.len() > 12) {
        return;
    }
    // Triage: `RHARDEN_FUZZ_PRINT=1 merge_layers CRASH` shows the layers as entries.
    if std::env::var_os("RHARDEN_FUZZ_PRINT").is_some() {
        for (i, ops) in layers.iter().enumerate() {
            for op in ops {
                let e = op.entry();
                eprintln!(
                    "layer {i}: {} type {} -> {}",
                    String::from_utf8_lossy(&e.name),
                    e.kind as char,
                    String::from_utf8_lossy(&e.link)
                );
            }
        }
    }
    let mut spec = ImageSpec::new(
        layers
            .iter()
            .map(|ops| ops.iter().map(Op::entry).collect())
            .collect(),
    );
    spec.codec = LayerCodec::Plain;
    let scratch = rharden_fuzz::scratch();
    let input = spec.write(&scratch, rharden_testkit::Form::OciTar);
    let Some(image) = rharden_fuzz::read_image(&input) else {
        return;
    };
    let options = rharden_fuzz::flatten_options();
    let flat = scratch.join("flat.tar");
    let flattened = rharden_flatten::flatten(&image, &input, &flat, &options);
    let unpacked = rharden_flatten::unpack(&image, &scratch.join("rootfs"));
    let (Ok(_), Ok(_)) = (&flattened, &unpacked) else {
        assert_eq!(
            flattened.is_ok(),
            unpacked.is_ok(),
            "flatten and unpack disagree: {flattened:?} vs {unpacked:?}"
        );
        assert!(!flat.exists(), "a failed flatten left its output");
        return;
    };
    let again = scratch.join("again.tar");
    rharden_flatten::flatten(&image, &input, &again, &options).expect("second flatten");
    assert!(
        std::fs::read(&flat).expect("flat") == std::fs::read(&again).expect("again"),
        "flatten is not reproducible"
    );
    let output = Image::open(&flat, &OpenOptions::default()).expect("flatten's output opens");
    let walk = output
        .walk(|_| Paths::default())
        .expect("flatten's output reads");
    let flat_paths: BTreeSet<Vec<u8>> = walk.sinks.into_iter().flat_map(|p| p.0).collect();
    let mut unpacked_paths = BTreeSet::new();
    tree(
        &scratch.join("rootfs"),
        &scratch.join("rootfs"),
        &mut unpacked_paths,
    );
    assert_eq!(
        flat_paths, unpacked_paths,
        "flatten and unpack give different trees"
    );
});
