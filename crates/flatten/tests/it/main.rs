//! Flatten and unpack, tested against the image's own merged view, against umoci and skopeo,
//! and on hostile images.

mod generated;
mod real;
mod tree;
