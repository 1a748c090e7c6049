//! Arbitrary bytes as one layer's tar stream, inside an otherwise valid OCI archive whose
//! digests match, so the tar and whiteout code (not the digest check) sees the bytes. The first
//! byte picks the layer codec; the image is also flattened and unpacked when it reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rharden_testkit::{Form, ImageSpec, LayerCodec};

fuzz_target!(|data: &[u8]| {
    let Some((&codec, layer)) = data.split_first() else {
        return;
    };
    let mut spec = ImageSpec::new(vec![vec![]]);
    spec.layers = vec![layer.to_vec()];
    spec.history = vec![("RUN fuzz".into(), false)];
    spec.codec = match codec % 3 {
        0 => LayerCodec::Plain,
        1 => LayerCodec::Gzip,
        _ => LayerCodec::Zstd,
    };
    let dir = rharden_fuzz::scratch();
    let input = spec.write(&dir, Form::OciTar);
    let Some(image) = rharden_fuzz::read_image(&input) else {
        return;
    };
    let options = rharden_fuzz::flatten_options();
    let _ = rharden_flatten::flatten(&image, &input, &dir.join("flat.tar"), &options);
    let _ = rharden_flatten::unpack(&image, &dir.join("rootfs"));
});
