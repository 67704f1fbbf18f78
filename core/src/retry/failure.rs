//! What went wrong with one attempt, as far as retrying is concerned.

use core::fmt;
use core::time::Duration;

/// The kind of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum FailureKind {
    /// The call timed out.
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// The server answered with an error status.
    Status,
    /// Anything else, known by its message.
    Other,
}

impl FailureKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FailureKind; 4] = [
        FailureKind::Timeout,
        FailureKind::Connection,
        FailureKind::Status,
        FailureKind::Other,
    ];

    /// The kind's name in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Connection => "connection",
            FailureKind::Status => "status",
            FailureKind::Other => "other",
        }
    }

    /// The kind named `name` (its JSON name), if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// The call timed out.
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// The server answered `code`, perhaps with a `Retry-After` (already turned into a wait,
    /// see [`parse_retry_after`](super::parse_retry_after)); it is honoured on 429 and 503.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// Anything else; retried when the message contains one of
    /// [`retry_on_specific_errors`](super::RetryConfig::retry_on_specific_errors).
    Other {
        /// The error's message.
        message: &'a str,
    },
}

impl Failure<'_> {
    /// A status failure without `Retry-After`.
    #[must_use]
    pub const fn status(code: u16) -> Failure<'static> {
        Failure::Status {
            code,
            retry_after: None,
        }
    }

    /// The failure's kind.
    #[must_use]
    pub const fn kind(&self) -> FailureKind {
        match self {
            Failure::Timeout => FailureKind::Timeout,
            Failure::Connection => FailureKind::Connection,
            Failure::Status { .. } => FailureKind::Status,
            Failure::Other { .. } => FailureKind::Other,
        }
    }
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timed out"),
            Failure::Connection => f.write_str("connection failed"),
            Failure::Status { code, .. } => write!(f, "status {code}"),
            Failure::Other { message } => f.write_str(message),
        }
    }
}

/// How an error type tells the retry driver what kind of failure it is.
///
/// ```
/// use flowgate_core::retry::{Classify, Failure};
///
/// enum ApiError { Timeout, Http(u16), Parse(String) }
///
/// impl Classify for ApiError {
///     fn classify(&self) -> Failure<'_> {
///         match self {
///             ApiError::Timeout => Failure::Timeout,
///             ApiError::Http(code) => Failure::status(*code),
///             ApiError::Parse(message) => Failure::Other { message },
///         }
///     }
/// }
/// ```
pub trait Classify {
    /// This error as a retry [`Failure`].
    fn classify(&self) -> Failure<'_>;
}
