//! Integration tests for the image reader: generated images in every form, hostile archives,
//! and the real images built by tests/fixtures/build-images.sh.

mod forms;
mod hostile;
mod pipeline;
mod real;
