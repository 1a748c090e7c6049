//! Arbitrary bytes as a whole image file (any format, possibly compressed as a whole).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = rharden_fuzz::scratch();
    let path = dir.join("image");
    std::fs::write(&path, data).expect("write input");
    rharden_fuzz::read_image(&path);
});
