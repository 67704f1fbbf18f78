//! The error document.

use alloc::string::String;
use alloc::vec::Vec;

use crate::FieldError;

/// Every error answer: an RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` when the status says it all).
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, for a person.
    pub detail: String,
    /// For 422: each invalid field, by JSON pointer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For 429 from the API's own limits: the policies the request broke (the IETF draft's
    /// `violated-policies`).
    #[serde(
        rename = "violated-policies",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub violated_policies: Vec<String>,
}

impl Problem {
    /// A problem whose status says what kind it is (`about:blank`), with the status's reason
    /// phrase as its title.
    #[must_use]
    pub fn about_blank(status: u16, title: &str, detail: String) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: title.into(),
            status,
            detail,
            errors: Vec::new(),
            violated_policies: Vec::new(),
        }
    }
}
