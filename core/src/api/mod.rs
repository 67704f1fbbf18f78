//! The shapes of the HTTP API, defined once (behind the `serde` feature): the server
//! serialises its answers and reads its request bodies through these types, the console and
//! the end-to-end tests read and write the same types, and under the `openapi` feature each is
//! a schema of the server's OpenAPI document.
//!
//! Request bodies refuse unknown fields, so that a misspelt field is an error, not ignored.

mod accounts;
mod limits;
mod overview;
mod platforms;
mod problem;
mod retry;
mod tasks;

pub use accounts::{
    Account, AccountChange, Credential, Login, Me, NewToken, NewUser, PasswordChange, Role, Token,
};
pub use limits::{Bucket, CheckRequest, Decision, HistoryEntry, KeyState, Text};
pub use overview::{Denials, DeniedKey, Overview};
pub use platforms::{
    Connection, ConnectionChange, Context, ContextChoice, NewConnection, NewPost, Post,
};
pub use problem::Problem;
pub use retry::{Recorded, RetryDetail, RetryStatistics};
pub use tasks::{NewTask, Task, TaskPage, TaskUpdate};

/// `serde(skip_serializing_if)` for flags written only when set.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_false(flag: &bool) -> bool {
    !*flag
}
