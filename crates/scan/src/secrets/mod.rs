//! The secrets analyzer: rules as data, a keyword-prefiltered matcher, and a layer sink that
//! streams every file of every layer through it (deleted and overwritten files included).

pub mod matcher;
pub mod presence;
pub mod rules;
pub mod sink;
