//! Reading JSON documents (limits, retry policies, request bodies) so that a bad one is
//! answered by where it is wrong: the server's 400 and 422 problems and the WebAssembly
//! component's typed errors come from here.

use alloc::format;
use alloc::string::{String, ToString};

use serde::Deserialize;

use crate::{FieldError, pointer_token};

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentError {
    /// The text is not JSON at all (the parser's message, with line and column).
    NotJson(String),
    /// Valid JSON of the wrong shape: the field that is wrong, by JSON Pointer (`""` when the
    /// document itself is not an object).
    Shape(FieldError),
}

impl core::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DocumentError::NotJson(e) => write!(f, "not valid JSON: {e}"),
            DocumentError::Shape(e) if e.pointer.is_empty() => f.write_str(&e.detail),
            DocumentError::Shape(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DocumentError {}

/// Parses `bytes` as the JSON object `T`.
///
/// A good document is read once, straight into `T`; a bad one is read again with its path
/// tracked (which allocates for every key, so only then), and once more to tell a syntax error
/// from a shape error.
///
/// # Errors
/// [`DocumentError::NotJson`] for text that is not JSON (trailing text included);
/// [`DocumentError::Shape`] naming the offending field, an unknown one included, or the
/// document itself when it is JSON but not an object (serde would otherwise read a struct
/// from an array, field by field).
pub fn from_json<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, DocumentError> {
    if is_object(bytes)
        && let Ok(value) = serde_json::from_slice(bytes)
    {
        return Ok(value);
    }
    from_json_tracked(bytes)
}

/// Whether the text opens a JSON object: serde would otherwise read a struct from an array,
/// field by field.
fn is_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// [`from_json`] in one tracked reading of the document, good or bad: the same answers from
/// half the code, for builds where size matters more than the speed of good documents (the
/// WebAssembly component reads a limits document once per limiter).
///
/// # Errors
/// As [`from_json`].
pub fn from_json_tracked<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, DocumentError> {
    let not_json = |e: serde_json::Error| DocumentError::NotJson(e.to_string());
    let is_json = || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map(|_| ());
    if !is_object(bytes) {
        return match is_json() {
            Ok(()) => Err(DocumentError::Shape(FieldError::new(
                "",
                "must be a JSON object",
            ))),
            Err(e) => Err(not_json(e)),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = pointer_of(e.path());
        let inner = e.into_inner();
        match is_json() {
            Ok(()) => DocumentError::Shape(FieldError::new(pointer, inner.to_string())),
            Err(syntax) => not_json(syntax),
        }
    })?;
    de.end().map_err(not_json)?;
    Ok(value)
}

/// A serde path as a JSON Pointer.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push('/');
                pointer.push_str(&pointer_token(key));
            }
            Segment::Unknown => {}
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::RateLimitConfig;

    fn read(text: &str) -> Result<RateLimitConfig, DocumentError> {
        from_json(text.as_bytes())
    }

    #[test]
    fn both_readings_answer_alike() {
        let texts = [
            r#"{"max_burst": 3}"#,
            r#"{"max_brust": 3}"#,
            "[]",
            "{",
            r#"{"a": 1} x"#,
        ];
        for text in texts {
            let tracked = from_json_tracked::<RateLimitConfig>(text.as_bytes());
            assert_eq!(read(text), tracked, "{text}");
        }
    }

    #[test]
    fn a_bad_document_is_answered_by_where_it_is_wrong() {
        assert_eq!(read(r#"{"max_burst": 3}"#).unwrap().max_burst, 3);
        let shape = |text| match read(text) {
            Err(DocumentError::Shape(e)) => e.pointer,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            shape(r#"{"endpoint_limits": {"a/b": {"minute": -1}}}"#),
            "/endpoint_limits/a~1b/minute"
        );
        assert_eq!(shape(r#"{"max_brust": 3}"#), "/max_brust");
        assert_eq!(shape("[]"), "");
        for text in ["", "{", r#"{"max_burst": 3} x"#, "nul"] {
            assert!(
                matches!(read(text), Err(DocumentError::NotJson(_))),
                "{text}"
            );
        }
    }
}
