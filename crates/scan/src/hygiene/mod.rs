//! The hygiene analyzer.
use crate::analysis::Context;
use crate::finding::Finding;

/// Every hygiene finding of the image.
pub fn findings(_ctx: &Context<'_>) -> Vec<Finding> {
    Vec::new()
}
