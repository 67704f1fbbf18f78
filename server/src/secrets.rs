//! Encryption at rest of platform access tokens: XChaCha20-Poly1305 with a key from
//! `FLOWGATE_SECRET_KEY` (32 bytes as base64 or hex), else a random key kept in a file beside
//! the database (readable by its owner only).

use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// What a platform access token is sealed with: bound to its owner and its connection, so a
/// sealed token copied to another user's row, or to another connection of the same user, does
/// not open.
fn platform_token_context(user_id: i64, connection_id: i64) -> Vec<u8> {
    format!("flowgate platform token of user {user_id}, connection {connection_id}").into_bytes()
}

/// The context of tokens sealed before sealed secrets had a header (bound to the owner only).
fn unversioned_platform_token_context(user_id: i64) -> Vec<u8> {
    format!("flowgate platform token of user {user_id}").into_bytes()
}

/// The name of the stored check value of the key.
pub const KEY_CHECK: &str = "secret_key_check";

/// What the check value seals.
const KEY_CHECK_PLAIN: &str = "flowgate: the key that seals platform tokens";

/// A sealed secret: `[VERSION][key id: 8 bytes][nonce: 24 bytes][ciphertext and tag]`. The
/// version and key id are authenticated with the ciphertext (they lead its associated data), so
/// neither can be changed unseen; the key id says which key to open it with, so a rotation can
/// tell what it has re-sealed. Secrets sealed before this header existed (`[nonce][ciphertext]`)
/// still open, and `rotate-key` rewrites them in this form.
const VERSION: u8 = 1;
const HEADER: usize = 1 + 8;
const NONCE: usize = 24;

/// Seals and opens secrets.
pub struct Vault {
    cipher: XChaCha20Poly1305,
    key_id: [u8; 8],
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault(key id {})", hex::encode(self.key_id))
    }
}

impl Vault {
    /// The vault for `configured` (the environment's key), else the key file `file` (created
    /// with a random key if missing), else (no file, as for an in-memory database) a random
    /// key that lives as long as the process.
    ///
    /// # Errors
    /// A malformed configured key, or a key file that cannot be read or written.
    pub fn open(configured: Option<&str>, file: Option<&Path>) -> anyhow::Result<Vault> {
        let key = match (configured, file) {
            (Some(text), _) => decode_key(text).context("FLOWGATE_SECRET_KEY")?,
            (None, Some(path)) => read_or_create_key(path)?,
            (None, None) => random_key(),
        };
        Ok(Vault::with_key(&key))
    }

    /// The vault of a key given as text (32 bytes as base64 or hex).
    ///
    /// # Errors
    /// A malformed key.
    pub fn from_key_text(text: &str) -> anyhow::Result<Vault> {
        Ok(Vault::with_key(&decode_key(text)?))
    }

    fn with_key(key: &[u8; 32]) -> Vault {
        use sha2::Digest as _;
        let digest = sha2::Sha256::new()
            .chain_update(b"flowgate key id\0")
            .chain_update(key)
            .finalize();
        let mut key_id = [0; 8];
        key_id.copy_from_slice(&digest[..8]);
        Vault {
            cipher: XChaCha20Poly1305::new(key.into()),
            key_id,
        }
    }

    /// `secret` sealed, bound to `context` (which must be given again to open it).
    ///
    /// # Errors
    /// Only if the cipher fails.
    pub fn seal(&self, secret: &str, context: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut sealed = Vec::with_capacity(HEADER + NONCE + secret.len() + 16);
        sealed.push(VERSION);
        sealed.extend_from_slice(&self.key_id);
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        sealed.extend_from_slice(&nonce);
        let aad = [&sealed[..HEADER], context].concat();
        let body = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// The secret in `sealed` (sealed with a header, by [`Vault::seal`]).
    ///
    /// # Errors
    /// When `sealed` was not sealed by this key with this `context`; the error names the key
    /// it was sealed with when that is another.
    pub fn open_sealed(&self, sealed: &[u8], context: &[u8]) -> anyhow::Result<String> {
        if sealed.len() < HEADER + NONCE || sealed[0] != VERSION {
            bail!("not a sealed secret of this version");
        }
        if sealed[1..HEADER] != self.key_id {
            bail!(
                "sealed with another key (key id {}, this one is {})",
                hex::encode(&sealed[1..HEADER]),
                hex::encode(self.key_id)
            );
        }
        let (header, rest) = sealed.split_at(HEADER);
        let (nonce, body) = rest.split_at(NONCE);
        let aad = [header, context].concat();
        self.decrypt(nonce, body, &aad)
    }

    /// The secret in `sealed` as secrets were sealed before they had a header.
    fn open_unversioned(&self, sealed: &[u8], context: &[u8]) -> anyhow::Result<String> {
        if sealed.len() < NONCE {
            bail!("sealed secret too short");
        }
        let (nonce, body) = sealed.split_at(NONCE);
        self.decrypt(nonce, body, context)
    }

    fn decrypt(&self, nonce: &[u8], body: &[u8], aad: &[u8]) -> anyhow::Result<String> {
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
            .map_err(|_| anyhow::anyhow!("the secret does not open with this key"))?;
        Ok(String::from_utf8(plain)?)
    }

    /// A platform access token sealed for connection `connection_id` of user `user_id`.
    ///
    /// # Errors
    /// Only if the cipher fails.
    pub fn seal_platform_token(
        &self,
        token: &str,
        user_id: i64,
        connection_id: i64,
    ) -> anyhow::Result<Vec<u8>> {
        self.seal(token, &platform_token_context(user_id, connection_id))
    }

    /// The platform access token of connection `connection_id` of user `user_id`, sealed in
    /// either form.
    ///
    /// # Errors
    /// When it was not sealed with this key for this connection.
    pub fn open_platform_token(
        &self,
        sealed: &[u8],
        user_id: i64,
        connection_id: i64,
    ) -> anyhow::Result<String> {
        self.open_sealed(sealed, &platform_token_context(user_id, connection_id))
            .or_else(|e| {
                // A token sealed before the header whose nonce happens to begin with the
                // version byte is tried both ways.
                self.open_unversioned(sealed, &unversioned_platform_token_context(user_id))
                    .map_err(|_| e)
            })
    }

    /// Whether `sealed` is in the current form and sealed with this key (a rotation that
    /// stopped halfway re-seals only what is not).
    pub fn sealed_it(&self, sealed: &[u8]) -> bool {
        sealed.len() >= HEADER + NONCE && sealed[0] == VERSION && sealed[1..HEADER] == self.key_id
    }
}

/// The key in the file at `path`, created with a random key if there is none.
fn read_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let read = || -> anyhow::Result<[u8; 32]> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        decode_key(text.trim()).with_context(|| format!("the key in {}", path.display()))
    };
    if path.exists() {
        return read();
    }
    let key = random_key();
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    match crate::state::create_private(path, &text) {
        Ok(()) => {
            tracing::warn!(file = %path.display(), "generated the key that encrypts platform tokens; keep the file");
            Ok(key)
        }
        // Another server on this database made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(),
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

impl Vault {
    /// A check value of this key: a constant sealed with it.
    ///
    /// # Errors
    /// Only if the cipher fails.
    pub fn check_value(&self) -> anyhow::Result<Vec<u8>> {
        self.seal(KEY_CHECK_PLAIN, KEY_CHECK.as_bytes())
    }

    /// Whether `check` was made by [`Vault::check_value`] with this key (in either form).
    pub fn matches(&self, check: &[u8]) -> bool {
        self.open_sealed(check, KEY_CHECK.as_bytes())
            .or_else(|_| self.open_unversioned(check, KEY_CHECK.as_bytes()))
            .is_ok_and(|plain| plain == KEY_CHECK_PLAIN)
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

fn decode_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text)?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .context("not base64 or hex")?
    };
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("must be 32 bytes, got {}", b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_starting_together_on_one_database_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flowgate.db.secret-key");
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let vaults: Vec<Vault> = (0..8)
            .map(|_| {
                let (start, path) = (std::sync::Arc::clone(&start), path.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Vault::open(None, Some(&path)).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let sealed = vaults[0].seal("platform token", b"connection 1").unwrap();
        for vault in &vaults {
            assert_eq!(
                vault.open_sealed(&sealed, b"connection 1").unwrap(),
                "platform token"
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let vault = Vault::open(Some(&"ab".repeat(32)), None).unwrap();
        let sealed = vault.seal("token-123", b"user:1").unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"token-123"));
        assert_eq!(vault.open_sealed(&sealed, b"user:1").unwrap(), "token-123");
        assert!(vault.open_sealed(&sealed, b"user:2").is_err());
        let other = Vault::open(Some(&"cd".repeat(32)), None).unwrap();
        assert!(other.open_sealed(&sealed, b"user:1").is_err());
        assert!(vault.open_sealed(&sealed[..10], b"user:1").is_err());
    }

    #[test]
    fn keys_come_from_the_environment_or_a_private_file() {
        assert!(Vault::open(Some("short"), None).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k");
        let first = Vault::open(None, Some(&file)).unwrap();
        let sealed = first.seal("s", b"").unwrap();
        let again = Vault::open(None, Some(&file)).unwrap();
        assert_eq!(again.open_sealed(&sealed, b"").unwrap(), "s");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    /// A platform token is bound to its connection as well as its owner, its header (version
    /// and key id) cannot be changed unseen, and one sealed before the header still opens.
    #[test]
    fn platform_tokens_open_only_for_their_connection() {
        let vault = Vault::open(Some(&"ab".repeat(32)), None).unwrap();
        let sealed = vault.seal_platform_token("token-123", 7, 1).unwrap();
        assert!(vault.sealed_it(&sealed));
        assert_eq!(
            vault.open_platform_token(&sealed, 7, 1).unwrap(),
            "token-123"
        );
        assert!(
            vault.open_platform_token(&sealed, 7, 2).is_err(),
            "another connection"
        );
        assert!(
            vault.open_platform_token(&sealed, 8, 1).is_err(),
            "another user"
        );
        let mut tampered = sealed.clone();
        tampered[0] = 2;
        assert!(vault.open_platform_token(&tampered, 7, 1).is_err());

        let other = Vault::open(Some(&"cd".repeat(32)), None).unwrap();
        let refused = other.open_platform_token(&sealed, 7, 1).unwrap_err();
        assert!(refused.to_string().contains("another key"), "{refused}");
        assert!(!other.sealed_it(&sealed));

        let unversioned = {
            let mut nonce = [0u8; NONCE];
            rand::rng().fill_bytes(&mut nonce);
            let body = vault
                .cipher
                .encrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: b"old-token",
                        aad: &unversioned_platform_token_context(7),
                    },
                )
                .unwrap();
            [&nonce[..], &body].concat()
        };
        assert_eq!(
            vault.open_platform_token(&unversioned, 7, 1).unwrap(),
            "old-token"
        );
    }
}
