//! Problems found in configuration documents, located by JSON Pointer.

use alloc::string::String;
use core::fmt;

/// One problem in a configuration document: where (a JSON Pointer, RFC 6901) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON Pointer to the offending field, e.g. `/endpoint_limits/media/minute`.
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
}

impl FieldError {
    /// A problem `detail` at `pointer`.
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.detail)
    }
}

/// A name-like field (a key, an endpoint, a username): non-empty after trimming, at most `max`
/// bytes, no control characters.
///
/// # Errors
/// A [`FieldError`] at `pointer` saying which of the three it breaks.
pub fn check_name(pointer: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let detail = if value.trim().is_empty() {
        alloc::string::String::from("must not be empty")
    } else if value.len() > max {
        alloc::format!("must be at most {max} bytes")
    } else if value.chars().any(char::is_control) {
        alloc::string::String::from("must not contain control characters")
    } else {
        return Ok(());
    };
    Err(FieldError::new(pointer, detail))
}

/// Writes `what: ` and every error, `; `-separated: how each module's error shows a list of
/// field problems.
pub(crate) fn write_errors(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    errors: &[FieldError],
) -> fmt::Result {
    write!(f, "{what}: ")?;
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

/// Escapes a map key for use as one JSON Pointer reference token (RFC 6901 §3), as
/// [`FieldError`] pointers name fields.
pub fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
