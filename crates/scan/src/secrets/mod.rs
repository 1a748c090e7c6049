//! The secrets analyzer: rules as data, a keyword-prefiltered matcher, a layer sink that
//! streams every file of every layer through it (deleted and overwritten files included), and
//! a sink that checks which already found values a stream still holds (flatten's proof).

mod keyword_dfa;
mod keyword_search;
mod keyword_spans;
pub mod matcher;
pub mod presence;
pub mod rules;
pub mod sink;
mod window_regex;
