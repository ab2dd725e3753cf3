//! The state crate's error: a message with the context it was found in, outermost first
//! (`"spec.containers[0].resources.requests.cpu: invalid quantity"`), so callers can prefix the
//! file and object and print one line.
use std::fmt::Display;

/// Why an object could not be turned into the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// The same error, found inside `ctx` (a field path or an object's name).
    pub fn context(self, ctx: impl Display) -> Self {
        Error {
            message: format!("{ctx}: {}", self.message),
        }
    }

    /// The message, context included.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<karpenter_scheduling::Error> for Error {
    fn from(e: karpenter_scheduling::Error) -> Self {
        Error::new(e.to_string())
    }
}

/// `Result<T, state::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to errors that convert into [`Error`].
pub trait Context<T> {
    /// Prefix the error with `ctx`.
    fn context(self, ctx: impl Display) -> Result<T>;
    /// Prefix the error with a lazily built `ctx`.
    fn with_context<C: Display>(self, ctx: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, ctx: impl Display) -> Result<T> {
        self.map_err(|e| e.into().context(ctx))
    }
    fn with_context<C: Display>(self, ctx: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(ctx()))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(e.to_string())
    }
}

/// Return early with an [`Error`] built from a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::new(format!($($arg)*)))
    };
}
