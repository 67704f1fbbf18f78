//! Encryption at rest of platform access tokens: XChaCha20-Poly1305 with a key from
//! `FLOWGATE_SECRET_KEY` (32 bytes as base64 or hex), else a random key kept in a file beside
//! the database (readable by its owner only).

use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// What a platform access token is sealed with: bound to its owner, so a sealed token copied
/// to another user's row does not open.
pub fn platform_token_context(user_id: i64) -> Vec<u8> {
    format!("flowgate platform token of user {user_id}").into_bytes()
}

/// The name of the stored check value of the key.
pub const KEY_CHECK: &str = "secret_key_check";

/// What the check value seals.
const KEY_CHECK_PLAIN: &str = "flowgate: the key that seals platform tokens";

/// Seals and opens secrets.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
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
            (None, Some(path)) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                decode_key(text.trim()).with_context(|| format!("the key in {}", path.display()))?
            }
            (None, Some(path)) => {
                let key = random_key();
                let text = base64::engine::general_purpose::STANDARD.encode(key);
                match crate::state::create_private(path, &text) {
                    Ok(()) => {
                        tracing::warn!(file = %path.display(), "generated the key that encrypts platform tokens; keep the file");
                        key
                    }
                    // Another server on this database made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        decode_key(text.trim())
                            .with_context(|| format!("the key in {}", path.display()))?
                    }
                    Err(e) => {
                        return Err(e).with_context(|| format!("writing {}", path.display()));
                    }
                }
            }
            (None, None) => random_key(),
        };
        Ok(Vault {
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// `secret` sealed, bound to `context` (which must be given again to open it).
    ///
    /// # Errors
    /// Only if the cipher fails.
    pub fn seal(&self, secret: &str, context: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: context,
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// The secret in `sealed`.
    ///
    /// # Errors
    /// When `sealed` was not sealed by this key with this `context`.
    pub fn open_sealed(&self, sealed: &[u8], context: &[u8]) -> anyhow::Result<String> {
        if sealed.len() < 24 {
            bail!("sealed secret too short");
        }
        let (nonce, body) = sealed.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map_err(|_| anyhow::anyhow!("the secret does not open with this key"))?;
        Ok(String::from_utf8(plain)?)
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

    /// Whether `check` was made by [`Vault::check_value`] with this key.
    pub fn matches(&self, check: &[u8]) -> bool {
        self.open_sealed(check, KEY_CHECK.as_bytes())
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
}
