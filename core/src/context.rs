//! Platform context: which user, which of their platform connections (a Mastodon or Pixelfed
//! account on some instance) and which session an operation runs in, and the posts it sees.
//!
//! ```
//! use flowgate_core::context::{PlatformConnection, PlatformType, User, select_context};
//!
//! let user = User { id: 123, username: "ada".into(), is_active: true };
//! let connections = [PlatformConnection {
//!     id: 456, user_id: 123, name: "main".into(), platform_type: PlatformType::Mastodon,
//!     instance_url: "https://mastodon.social".into(), username: "ada".into(),
//!     is_active: true, is_default: true,
//! }];
//! let context = select_context(&user, &connections, Some(456), Some("s1".into()))?;
//! assert!(context.is_valid());
//! assert_eq!(context.platform_info().unwrap().platform_type, PlatformType::Mastodon);
//! # Ok::<(), flowgate_core::context::Error>(())
//! ```

use alloc::string::{String, ToString};
use core::fmt;

/// The kinds of platform a connection can be to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum PlatformType {
    /// A Mastodon instance.
    Mastodon,
    /// A Pixelfed instance.
    Pixelfed,
}

impl PlatformType {
    /// The platform's name in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PlatformType::Mastodon => "mastodon",
            PlatformType::Pixelfed => "pixelfed",
        }
    }

    /// The platform named `name` (lowercase), if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<PlatformType> {
        match name {
            "mastodon" => Some(PlatformType::Mastodon),
            "pixelfed" => Some(PlatformType::Pixelfed),
            _ => None,
        }
    }
}

impl fmt::Display for PlatformType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user, as far as context is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The user's id.
    pub id: i64,
    /// The user's name.
    pub username: String,
    /// Whether the account may be used.
    pub is_active: bool,
}

/// One of a user's accounts on a platform. It carries no access token: tokens never leave
/// storage, and nothing here could leak one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformConnection {
    /// The connection's id.
    pub id: i64,
    /// Its owner.
    pub user_id: i64,
    /// A name the user gave it.
    pub name: String,
    /// Which platform.
    pub platform_type: PlatformType,
    /// The instance's base URL, normalised (see [`normalize_instance_url`]).
    pub instance_url: String,
    /// The account's name on the instance.
    pub username: String,
    /// Whether it may be used.
    pub is_active: bool,
    /// Whether it is the user's default (at most one is).
    pub is_default: bool,
}

/// What an operation may know of its connection: never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformInfo {
    /// Which platform.
    pub platform_type: PlatformType,
    /// The instance's base URL.
    pub instance_url: String,
    /// The account's name on the instance.
    pub username: String,
    /// The connection's name.
    pub name: String,
    /// Whether it is the user's default.
    pub is_default: bool,
}

/// Which user, connection and session an operation runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformContext {
    /// The user.
    pub user_id: i64,
    /// The user's record.
    pub user: Option<User>,
    /// The connection's id.
    pub platform_connection_id: Option<i64>,
    /// The connection's record.
    pub platform_connection: Option<PlatformConnection>,
    /// The session (or API token) the context belongs to.
    pub session_id: Option<String>,
}

impl PlatformContext {
    /// Everything is set and consistent, and the user and connection are active.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        let (Some(user), Some(conn), Some(conn_id), Some(_)) = (
            &self.user,
            &self.platform_connection,
            self.platform_connection_id,
            &self.session_id,
        ) else {
            return false;
        };
        user.id == self.user_id
            && user.is_active
            && conn.id == conn_id
            && conn.user_id == self.user_id
            && conn.is_active
    }

    /// The connection's public description, if there is a connection.
    #[must_use]
    pub fn platform_info(&self) -> Option<PlatformInfo> {
        self.platform_connection.as_ref().map(|c| PlatformInfo {
            platform_type: c.platform_type,
            instance_url: c.instance_url.clone(),
            username: c.username.clone(),
            name: c.name.clone(),
            is_default: c.is_default,
        })
    }

    /// Whether a post from `origin` belongs to this context: by connection id when the post
    /// has one, else by platform type and instance URL. Without a connection, nothing does.
    #[must_use]
    pub fn admits(&self, origin: &PostOrigin<'_>) -> bool {
        let Some(conn) = &self.platform_connection else {
            return false;
        };
        match origin.platform_connection_id {
            Some(id) => id == conn.id,
            None => {
                origin.platform_type == Some(conn.platform_type)
                    && origin
                        .instance_url
                        .is_some_and(|url| same_instance(url, &conn.instance_url))
            }
        }
    }

    /// The posts that belong to this context ([`admits`](Self::admits)), in order; with
    /// `user_id` (the reference's optional filter), only that user's. The server's `GET
    /// /api/v1/posts` is this rule as SQL, for the caller, tested against it.
    pub fn filter_posts<'p, P: HasOrigin + 'p>(
        &'p self,
        posts: impl IntoIterator<Item = &'p P> + 'p,
        user_id: Option<i64>,
    ) -> impl Iterator<Item = &'p P> + 'p {
        posts.into_iter().filter(move |p| {
            let origin = p.origin();
            user_id.is_none_or(|user| origin.user_id == Some(user)) && self.admits(&origin)
        })
    }
}

/// Where a post came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PostOrigin<'a> {
    /// Whose post it is, if recorded.
    pub user_id: Option<i64>,
    /// The connection it was fetched through, if recorded.
    pub platform_connection_id: Option<i64>,
    /// Its platform, if recorded.
    pub platform_type: Option<PlatformType>,
    /// Its instance, if recorded.
    pub instance_url: Option<&'a str>,
}

/// A post (or anything else) whose origin can be told.
pub trait HasOrigin {
    /// Where it came from.
    fn origin(&self) -> PostOrigin<'_>;
}

/// Sets a context by the rules: the user must be active; a connection asked for must be the
/// user's and active; without one, the user's default active connection, else the first
/// active one in `connections`' order.
///
/// # Errors
/// [`Error::UserInactive`]; [`Error::ConnectionNotFound`] for a connection that does not exist
/// or is another user's (the two are indistinguishable on purpose);
/// [`Error::ConnectionInactive`]; [`Error::NoActiveConnection`].
pub fn select_context(
    user: &User,
    connections: &[PlatformConnection],
    requested: Option<i64>,
    session_id: Option<String>,
) -> Result<PlatformContext, Error> {
    if !user.is_active {
        return Err(Error::UserInactive);
    }
    let own = || connections.iter().filter(|c| c.user_id == user.id);
    let chosen = match requested {
        Some(id) => {
            let conn = own()
                .find(|c| c.id == id)
                .ok_or(Error::ConnectionNotFound)?;
            if !conn.is_active {
                return Err(Error::ConnectionInactive);
            }
            conn
        }
        None => own()
            .find(|c| c.is_active && c.is_default)
            .or_else(|| own().find(|c| c.is_active))
            .ok_or(Error::NoActiveConnection)?,
    };
    Ok(PlatformContext {
        user_id: user.id,
        user: Some(user.clone()),
        platform_connection_id: Some(chosen.id),
        platform_connection: Some(chosen.clone()),
        session_id,
    })
}

/// The canonical form of an instance's base URL: lowercase scheme and host, no trailing slash,
/// no path, query or fragment. Only `https`, or `http` to a loopback host, is accepted.
///
/// ```
/// use flowgate_core::context::normalize_instance_url;
/// assert_eq!(normalize_instance_url(" HTTPS://Mastodon.Social/ ").unwrap(), "https://mastodon.social");
/// assert!(normalize_instance_url("http://mastodon.social").is_err());
/// assert_eq!(normalize_instance_url("http://127.0.0.1:3000").unwrap(), "http://127.0.0.1:3000");
/// ```
///
/// # Errors
/// [`Error::InvalidInstanceUrl`] saying what is wrong.
pub fn normalize_instance_url(url: &str) -> Result<String, Error> {
    let invalid = |detail: &str| Error::InvalidInstanceUrl(detail.to_string());
    let url = url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("must start with https://"))?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.trim_end_matches('/');
    if authority.contains(['/', '?', '#']) {
        return Err(invalid(
            "must be the instance's base URL, without a path, query or fragment",
        ));
    }
    if authority.contains('@') {
        return Err(invalid("must not contain credentials"));
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) =
        split_host_port(&authority).ok_or_else(|| invalid("has an invalid host or port"))?;
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return Err(invalid("has an invalid host"));
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(invalid("has an invalid port"));
    }
    match scheme.as_str() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(invalid(
                "must use https (http is allowed only for a loopback host)",
            ));
        }
        _ => return Err(invalid("must start with https://")),
    }
    Ok(alloc::format!("{scheme}://{authority}"))
}

fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

fn same_instance(a: &str, b: &str) -> bool {
    match (normalize_instance_url(a), normalize_instance_url(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a
            .trim_end_matches('/')
            .eq_ignore_ascii_case(b.trim_end_matches('/')),
    }
}

/// What can go wrong setting a context.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The user's account is not active.
    UserInactive,
    /// No such connection among the user's.
    ConnectionNotFound,
    /// The connection asked for is not active.
    ConnectionInactive,
    /// The user has no active connection to fall back on.
    NoActiveConnection,
    /// An instance URL that is not acceptable, and why.
    InvalidInstanceUrl(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UserInactive => f.write_str("the user is not active"),
            Error::ConnectionNotFound => f.write_str("no such platform connection"),
            Error::ConnectionInactive => f.write_str("the platform connection is not active"),
            Error::NoActiveConnection => f.write_str("the user has no active platform connection"),
            Error::InvalidInstanceUrl(detail) => write!(f, "instance_url {detail}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn user(id: i64) -> User {
        User {
            id,
            username: alloc::format!("u{id}"),
            is_active: true,
        }
    }

    fn conn(
        id: i64,
        user_id: i64,
        platform_type: PlatformType,
        url: &str,
        active: bool,
        default: bool,
    ) -> PlatformConnection {
        PlatformConnection {
            id,
            user_id,
            name: alloc::format!("c{id}"),
            platform_type,
            instance_url: url.into(),
            username: "me".into(),
            is_active: active,
            is_default: default,
        }
    }

    #[test]
    fn selection_rules_with_distinct_errors() {
        let m = PlatformType::Mastodon;
        let conns = vec![
            conn(1, 10, m, "https://a.social", true, false),
            conn(2, 10, m, "https://b.social", false, true),
            conn(3, 10, m, "https://c.social", true, false),
            conn(4, 20, m, "https://d.social", true, true),
        ];
        let u = user(10);
        assert_eq!(
            select_context(&u, &conns, Some(3), None)
                .unwrap()
                .platform_connection_id,
            Some(3)
        );
        assert_eq!(
            select_context(&u, &conns, Some(4), None),
            Err(Error::ConnectionNotFound)
        );
        assert_eq!(
            select_context(&u, &conns, Some(99), None),
            Err(Error::ConnectionNotFound)
        );
        assert_eq!(
            select_context(&u, &conns, Some(2), None),
            Err(Error::ConnectionInactive)
        );
        // The default (2) is inactive: the first active one.
        assert_eq!(
            select_context(&u, &conns, None, None)
                .unwrap()
                .platform_connection_id,
            Some(1)
        );
        // The other user's default.
        assert_eq!(
            select_context(&user(20), &conns, None, None)
                .unwrap()
                .platform_connection_id,
            Some(4)
        );
        assert_eq!(
            select_context(&user(30), &conns, None, None),
            Err(Error::NoActiveConnection)
        );
        let inactive = User {
            is_active: false,
            ..user(10)
        };
        assert_eq!(
            select_context(&inactive, &conns, Some(1), None),
            Err(Error::UserInactive)
        );
    }

    #[test]
    fn validity_needs_everything_set_and_active() {
        let conns = vec![conn(
            1,
            10,
            PlatformType::Pixelfed,
            "https://pix.example",
            true,
            true,
        )];
        let mut ctx = select_context(&user(10), &conns, None, Some("sess".into())).unwrap();
        assert!(ctx.is_valid());
        let info = ctx.platform_info().unwrap();
        assert_eq!(
            (info.platform_type, info.name.as_str(), info.is_default),
            (PlatformType::Pixelfed, "c1", true)
        );
        ctx.session_id = None;
        assert!(!ctx.is_valid());
        ctx.session_id = Some("sess".into());
        ctx.platform_connection.as_mut().unwrap().is_active = false;
        assert!(!ctx.is_valid());
        let bare = PlatformContext {
            user_id: 10,
            user: None,
            platform_connection_id: None,
            platform_connection: None,
            session_id: None,
        };
        assert!(!bare.is_valid() && bare.platform_info().is_none());
    }

    #[derive(Clone)]
    struct Post {
        id: u32,
        user: i64,
        conn: Option<i64>,
        platform: Option<PlatformType>,
        url: Option<&'static str>,
    }

    impl HasOrigin for Post {
        fn origin(&self) -> PostOrigin<'_> {
            PostOrigin {
                user_id: Some(self.user),
                platform_connection_id: self.conn,
                platform_type: self.platform,
                instance_url: self.url,
            }
        }
    }

    #[test]
    fn posts_filter_by_connection_then_by_platform_and_instance() {
        let m = PlatformType::Mastodon;
        let conns = vec![conn(1, 10, m, "https://a.social", true, true)];
        let ctx = select_context(&user(10), &conns, None, None).unwrap();
        let posts = [
            Post {
                id: 1,
                user: 10,
                conn: Some(1),
                platform: None,
                url: None,
            },
            Post {
                id: 2,
                user: 10,
                conn: Some(2),
                platform: Some(m),
                url: Some("https://a.social"),
            },
            Post {
                id: 3,
                user: 10,
                conn: None,
                platform: Some(m),
                url: Some("HTTPS://A.social/"),
            },
            Post {
                id: 4,
                user: 10,
                conn: None,
                platform: Some(PlatformType::Pixelfed),
                url: Some("https://a.social"),
            },
            Post {
                id: 5,
                user: 10,
                conn: None,
                platform: Some(m),
                url: Some("https://b.social"),
            },
            Post {
                id: 6,
                user: 10,
                conn: None,
                platform: None,
                url: None,
            },
        ];
        let ids: Vec<u32> = ctx.filter_posts(&posts, None).map(|p| p.id).collect();
        assert_eq!(ids, vec![1, 3]);
        // The reference's user filter: only the given user's posts.
        let mine = Post {
            id: 7,
            user: 11,
            conn: Some(1),
            platform: None,
            url: None,
        };
        let with_another = [&posts[..], &[mine]].concat();
        let all: Vec<u32> = ctx
            .filter_posts(&with_another, None)
            .map(|p| p.id)
            .collect();
        assert_eq!(all, vec![1, 3, 7]);
        let users: Vec<u32> = ctx
            .filter_posts(&with_another, Some(10))
            .map(|p| p.id)
            .collect();
        assert_eq!(users, vec![1, 3]);
        let none: Vec<u32> = ctx
            .filter_posts(&with_another, Some(12))
            .map(|p| p.id)
            .collect();
        assert!(none.is_empty());
    }

    #[test]
    fn instance_urls_are_normalised_or_refused() {
        for (url, want) in [
            ("https://mastodon.social", "https://mastodon.social"),
            (
                "https://Pixelfed.Social:8443/",
                "https://pixelfed.social:8443",
            ),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(normalize_instance_url(url).as_deref(), Ok(want), "{url}");
        }
        for bad in [
            "",
            "mastodon.social",
            "ftp://x.y",
            "http://mastodon.social",
            "https://",
            "https://a.b/path",
            "https://a.b?q",
            "https://user@a.b",
            "https://a.b:0",
            "https://a.b:99999",
            "https://a b",
            "https://[::1",
        ] {
            assert!(
                matches!(
                    normalize_instance_url(bad),
                    Err(Error::InvalidInstanceUrl(_))
                ),
                "{bad:?}"
            );
        }
    }
}
