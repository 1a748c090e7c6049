//! Flatten and unpack, tested against the image's own merged view, against umoci and skopeo,
//! and on hostile images.

// Tests say on stderr what they skipped and how much they checked.
#![allow(clippy::print_stderr)]

mod generated;
mod real;
mod tree;
