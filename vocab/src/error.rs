//! The error of a value that does not parse.

/// A value that does not parse or is out of range. The message says what would be accepted
/// ("expected a size such as 4k, 1m"); the caller says where the value came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{expected}")]
pub struct ValueError {
    /// What would be accepted instead, as the second half of an error line.
    pub expected: String,
}

impl ValueError {
    /// An error saying what was expected.
    pub fn new(expected: impl Into<String>) -> Self {
        ValueError { expected: expected.into() }
    }
}
