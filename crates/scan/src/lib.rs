//! Analyzers that judge an image: each is a [`rharden_image::LayerSink`] fed by the one walk.
//! Filled by the scan issues (secrets, privilege, ELF hardening, bloat, hygiene).
