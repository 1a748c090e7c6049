//! Squashes an image's layers into one, applying whiteouts exactly. Filled by the flatten issue.
