//! The admin's local state (DESIGN §8): each channel's SK in a 0600 file, optionally
//! passphrase-encrypted (argon2id → XChaCha20-Poly1305), and the highest state epoch this
//! client has seen (DESIGN §4.4), which it sends with every unlock so the enclave can
//! refuse a rolled-back blob.
//!
//! Layout: `<dir>/channels/<channel id hex>/sk` and `…/epoch`. Files are replaced
//! atomically (write to a temporary file, fsync, rename).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// Argon2id cost for key files: 64 MiB, 3 passes, 1 lane (OWASP's baseline is lower).
const ARGON2_M_KIB: u32 = 64 * 1024;
const ARGON2_T: u32 = 3;
const ARGON2_P: u32 = 1;
const MAGIC_RAW: &str = "sealboost-sk-v1 raw ";
const MAGIC_ENC: &str = "sealboost-sk-v1 argon2id ";
/// Key files are a line of hex; anything longer is not ours.
const MAX_KEY_FILE: u64 = 1024;
/// The current SK and a successor awaiting acknowledgement (VAULT.md §11).
const SK_FILE: &str = "sk";
const NEXT_SK_FILE: &str = "sk.next";

/// A channel secret on the admin's machine. Zeroized on drop, never printed.
pub struct ChannelSk(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ChannelSk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelSk(<redacted>)")
    }
}

impl ChannelSk {
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut *k);
        Self(k)
    }
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(Zeroizing::new(b))
    }
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    #[error("key store i/o at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no key for channel {0} in this key store")]
    NoKey(String),
    #[error("key file {0} is malformed")]
    Malformed(PathBuf),
    #[error("key file {0} is readable by others (mode {1:o}); refusing to use it")]
    Permissions(PathBuf, u32),
    #[error("the key file is passphrase-protected; a passphrase is needed")]
    PassphraseRequired,
    #[error("wrong passphrase (or the key file was altered)")]
    WrongPassphrase,
    #[error("channel id must be 32 lowercase hex digits")]
    BadChannelId,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyStoreError + '_ {
    move |source| KeyStoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), KeyStoreError> {
    // `<name>.tmp`: `sk` and `sk.next` must not share a temporary file.
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn kdf(passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32))
        .map_err(|_| KeyStoreError::Malformed(PathBuf::from("<argon2 params>")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut *out)
        .map_err(|_| KeyStoreError::WrongPassphrase)?;
    Ok(out)
}

/// The admin's key store directory.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn channel_dir(&self, channel: &str) -> Result<PathBuf, KeyStoreError> {
        if channel.len() != 32
            || !channel
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(KeyStoreError::BadChannelId);
        }
        Ok(self.dir.join("channels").join(channel))
    }

    /// Stores `sk` for `channel`, encrypted under `passphrase` if given.
    pub fn save_sk(
        &self,
        channel: &str,
        sk: &ChannelSk,
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        self.write_sk_file(channel, SK_FILE, sk, passphrase)
    }

    /// Stores a successor SK (a rotation, a catch-up hop, a redeemed one-time passphrase)
    /// next to the current one, which stays in force until [`KeyStore::promote_next_sk`]:
    /// the old key is kept until the enclave has acknowledged the new one (VAULT.md §11).
    pub fn save_next_sk(
        &self,
        channel: &str,
        sk: &ChannelSk,
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        self.write_sk_file(channel, NEXT_SK_FILE, sk, passphrase)
    }

    /// The successor SK saved by [`KeyStore::save_next_sk`], if any.
    pub fn load_next_sk(
        &self,
        channel: &str,
        passphrase: impl FnOnce() -> Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Option<ChannelSk>, KeyStoreError> {
        match self.read_sk_file(channel, NEXT_SK_FILE, passphrase) {
            Ok(sk) => Ok(Some(sk)),
            Err(KeyStoreError::NoKey(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Makes the successor SK the current one: one atomic rename, so a crash leaves either
    /// the old key (and the successor beside it) or the new key.
    pub fn promote_next_sk(&self, channel: &str) -> Result<(), KeyStoreError> {
        let dir = self.channel_dir(channel)?;
        let from = dir.join(NEXT_SK_FILE);
        let to = dir.join(SK_FILE);
        std::fs::rename(&from, &to).map_err(io(&to))
    }

    /// Forgets a successor SK that the enclave did not take (a rotation left pending).
    pub fn discard_next_sk(&self, channel: &str) -> Result<(), KeyStoreError> {
        let path = self.channel_dir(channel)?.join(NEXT_SK_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(KeyStoreError::Io { path, source: e }),
        }
    }

    /// Whether a current SK is stored for `channel`.
    pub fn has_sk(&self, channel: &str) -> Result<bool, KeyStoreError> {
        Ok(self.channel_dir(channel)?.join(SK_FILE).exists())
    }

    fn write_sk_file(
        &self,
        channel: &str,
        file: &str,
        sk: &ChannelSk,
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        let dir = self.channel_dir(channel)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        let line = Zeroizing::new(match passphrase {
            None => format!("{MAGIC_RAW}{}\n", hex::encode(sk.expose())),
            Some(p) => {
                let mut salt = [0u8; 16];
                let mut nonce = [0u8; 24];
                OsRng.fill_bytes(&mut salt);
                OsRng.fill_bytes(&mut nonce);
                let key = kdf(p, &salt)?;
                let aad = format!("{MAGIC_ENC}{channel}");
                let ct = XChaCha20Poly1305::new((&*key).into())
                    .encrypt(
                        XNonce::from_slice(&nonce),
                        Payload {
                            msg: sk.expose(),
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| KeyStoreError::WrongPassphrase)?;
                format!(
                    "{MAGIC_ENC}m={ARGON2_M_KIB},t={ARGON2_T},p={ARGON2_P} {} {} {}\n",
                    hex::encode(salt),
                    hex::encode(nonce),
                    hex::encode(ct)
                )
            }
        });
        write_private(&dir.join(file), line.as_bytes())
    }

    /// Loads `channel`'s SK. `passphrase` is asked for only if the file is encrypted.
    pub fn load_sk(
        &self,
        channel: &str,
        passphrase: impl FnOnce() -> Option<Zeroizing<Vec<u8>>>,
    ) -> Result<ChannelSk, KeyStoreError> {
        self.read_sk_file(channel, SK_FILE, passphrase)
    }

    fn read_sk_file(
        &self,
        channel: &str,
        file: &str,
        passphrase: impl FnOnce() -> Option<Zeroizing<Vec<u8>>>,
    ) -> Result<ChannelSk, KeyStoreError> {
        use std::io::Read;
        let path = self.channel_dir(channel)?.join(file);
        let f = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyStoreError::NoKey(channel.to_owned()),
            _ => KeyStoreError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        let mode = f.metadata().map_err(io(&path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyStoreError::Permissions(path, mode));
        }
        let mut text = Zeroizing::new(String::new());
        f.take(MAX_KEY_FILE)
            .read_to_string(&mut text)
            .map_err(io(&path))?;
        let malformed = || KeyStoreError::Malformed(path.clone());
        let line = text.trim_end_matches('\n');
        if let Some(h) = line.strip_prefix(MAGIC_RAW) {
            let raw = Zeroizing::new(hex::decode(h).map_err(|_| malformed())?);
            let b: [u8; 32] = raw.as_slice().try_into().map_err(|_| malformed())?;
            return Ok(ChannelSk::from_bytes(b));
        }
        let rest = line.strip_prefix(MAGIC_ENC).ok_or_else(malformed)?;
        let parts: Vec<&str> = rest.split(' ').collect();
        let [params, salt, nonce, ct] = parts.as_slice() else {
            return Err(malformed());
        };
        if *params != format!("m={ARGON2_M_KIB},t={ARGON2_T},p={ARGON2_P}") {
            return Err(malformed());
        }
        let salt = hex::decode(salt).map_err(|_| malformed())?;
        let nonce: [u8; 24] = hex::decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(malformed)?;
        let ct = hex::decode(ct).map_err(|_| malformed())?;
        let p = passphrase().ok_or(KeyStoreError::PassphraseRequired)?;
        let key = kdf(&p, &salt)?;
        let aad = format!("{MAGIC_ENC}{channel}");
        let pt = Zeroizing::new(
            XChaCha20Poly1305::new((&*key).into())
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &ct,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| KeyStoreError::WrongPassphrase)?,
        );
        let b: [u8; 32] = pt.as_slice().try_into().map_err(|_| malformed())?;
        Ok(ChannelSk::from_bytes(b))
    }

    /// The highest state epoch seen for `channel` (0 if none).
    pub fn epoch(&self, channel: &str) -> Result<u64, KeyStoreError> {
        let path = self.channel_dir(channel)?.join("epoch");
        match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse().map_err(|_| KeyStoreError::Malformed(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(KeyStoreError::Io { path, source: e }),
        }
    }

    /// Remembers `epoch` if it is higher than what was seen before. Never goes down.
    pub fn record_epoch(&self, channel: &str, epoch: u64) -> Result<(), KeyStoreError> {
        if epoch <= self.epoch(channel)? {
            return Ok(());
        }
        let dir = self.channel_dir(channel)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_private(&dir.join("epoch"), format!("{epoch}\n").as_bytes())
    }

    /// Remembers which number is "me" on `channel` (the admin's own Signal number, used to
    /// act as that admin from the CLI). Stored 0600 next to the key.
    pub fn record_admin_number(&self, channel: &str, number: &str) -> Result<(), KeyStoreError> {
        let dir = self.channel_dir(channel)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_private(&dir.join("admin"), format!("{number}\n").as_bytes())
    }

    /// The admin number recorded for `channel`, if any.
    pub fn admin_number(&self, channel: &str) -> Result<Option<String>, KeyStoreError> {
        let path = self.channel_dir(channel)?.join("admin");
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyStoreError::Io { path, source: e }),
        }
    }

    /// Channel ids with a key here.
    pub fn channels(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.dir.join("channels"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("sk").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CH: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn raw_and_passphrase_key_files_round_trip_with_0600() {
        let d = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(d.path());
        let sk = ChannelSk::generate();
        ks.save_sk(CH, &sk, None).unwrap();
        let mode = std::fs::metadata(d.path().join("channels").join(CH).join("sk"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ks.load_sk(CH, || None).unwrap().expose(), sk.expose());

        ks.save_sk(CH, &sk, Some(b"correct horse")).unwrap();
        let text = std::fs::read_to_string(d.path().join("channels").join(CH).join("sk")).unwrap();
        assert!(!text.contains(&hex::encode(sk.expose())));
        assert!(matches!(
            ks.load_sk(CH, || None),
            Err(KeyStoreError::PassphraseRequired)
        ));
        assert!(matches!(
            ks.load_sk(CH, || Some(Zeroizing::new(b"wrong".to_vec()))),
            Err(KeyStoreError::WrongPassphrase)
        ));
        let got = ks
            .load_sk(CH, || Some(Zeroizing::new(b"correct horse".to_vec())))
            .unwrap();
        assert_eq!(got.expose(), sk.expose());
    }

    #[test]
    fn group_readable_key_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(d.path());
        ks.save_sk(CH, &ChannelSk::generate(), None).unwrap();
        let p = d.path().join("channels").join(CH).join("sk");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            ks.load_sk(CH, || None),
            Err(KeyStoreError::Permissions(_, 0o640))
        ));
    }

    #[test]
    fn epochs_only_go_up_and_ids_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(d.path());
        assert_eq!(ks.epoch(CH).unwrap(), 0);
        ks.record_epoch(CH, 5).unwrap();
        ks.record_epoch(CH, 3).unwrap();
        assert_eq!(ks.epoch(CH).unwrap(), 5);
        assert!(matches!(
            ks.epoch("../../etc"),
            Err(KeyStoreError::BadChannelId)
        ));
    }

    #[test]
    fn successor_key_stays_beside_the_old_one_until_promoted() {
        let d = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(d.path());
        let old = ChannelSk::from_bytes([1; 32]);
        let new = ChannelSk::from_bytes([2; 32]);
        ks.save_sk(CH, &old, None).unwrap();
        assert!(ks.load_next_sk(CH, || None).unwrap().is_none());
        ks.save_next_sk(CH, &new, None).unwrap();
        // The old key is still the current one.
        assert_eq!(ks.load_sk(CH, || None).unwrap().expose(), &[1; 32]);
        assert_eq!(
            ks.load_next_sk(CH, || None).unwrap().unwrap().expose(),
            &[2; 32]
        );
        let dir = d.path().join("channels").join(CH);
        let mode = std::fs::metadata(dir.join("sk.next"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        ks.promote_next_sk(CH).unwrap();
        assert_eq!(ks.load_sk(CH, || None).unwrap().expose(), &[2; 32]);
        assert!(ks.load_next_sk(CH, || None).unwrap().is_none());
        assert!(!dir.join("sk.next.tmp").exists() && !dir.join("sk.tmp").exists());
        // Discarding a successor that the enclave did not take keeps the current key.
        ks.save_next_sk(CH, &ChannelSk::from_bytes([3; 32]), Some(b"pw"))
            .unwrap();
        assert!(matches!(
            ks.load_next_sk(CH, || None),
            Err(KeyStoreError::PassphraseRequired)
        ));
        ks.discard_next_sk(CH).unwrap();
        ks.discard_next_sk(CH).unwrap();
        assert_eq!(ks.load_sk(CH, || None).unwrap().expose(), &[2; 32]);
        assert!(matches!(
            ks.promote_next_sk(CH),
            Err(KeyStoreError::Io { .. })
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let sk = ChannelSk::from_bytes([0xab; 32]);
        let s = format!("{sk:?}");
        assert!(!s.contains("ab"), "{s}");
    }
}
