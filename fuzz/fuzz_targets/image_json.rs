//! Arbitrary bytes as one of the JSON documents of an otherwise valid image: the config, the OCI
//! index, an OCI manifest (referenced with its true digest), or Docker's manifest.json.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rharden_testkit::{file, sample_image, sha256, tar};

fuzz_target!(|data: &[u8]| {
    let Some((&slot, json)) = data.split_first() else {
        return;
    };
    let dir = rharden_fuzz::scratch();
    let mut spec = sample_image();
    let path = dir.join("image.tar");
    match slot % 4 {
        0 => {
            spec.config = Some(json.to_vec());
            std::fs::write(&path, spec.docker_archive()).expect("write");
        }
        1 => {
            let mut entries = spec.oci_entries(spec.codec);
            replace(&mut entries, "index.json", json.to_vec());
            std::fs::write(&path, tar(&entries)).expect("write");
        }
        2 => {
            let mut entries = spec.oci_entries(spec.codec);
            let digest = sha256(json);
            let index = serde_json::json!({
                "schemaVersion": 2,
                "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": digest, "size": json.len()}],
            });
            replace(
                &mut entries,
                "index.json",
                serde_json::to_vec(&index).expect("json"),
            );
            entries.push(file(&format!("blobs/sha256/{}", &digest[7..]), json));
            std::fs::write(&path, tar(&entries)).expect("write");
        }
        _ => {
            let mut entries = spec.docker_entries();
            replace(&mut entries, "manifest.json", json.to_vec());
            std::fs::write(&path, tar(&entries)).expect("write");
        }
    }
    rharden_fuzz::read_image(&path);
});

fn replace(entries: &mut [rharden_testkit::TarEntry], name: &str, data: Vec<u8>) {
    for e in entries.iter_mut().filter(|e| e.name == name.as_bytes()) {
        e.data = data.clone();
    }
}
