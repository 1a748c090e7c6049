//! The CLI's error: what failed (`failed to <what>`), with the library error behind it.

/// An error the CLI reports as `error: failed to <what>: <cause>: <cause>…` and exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("failed to {what}")]
pub struct CliError {
    pub what: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl CliError {
    pub fn new(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            what: what.into(),
            source: source.into(),
        }
    }
}
