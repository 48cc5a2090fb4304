//! The admin's local state (DESIGN §8): each channel's SK in a 0600 file, optionally
//! passphrase-encrypted (argon2id → XChaCha20-Poly1305), and the highest state epoch this
//! client has seen (DESIGN §4.4), which it sends with every unlock so the enclave can
//! refuse a rolled-back blob.
//!
//! Layout: `<dir>/channels/<channel id hex>/sk` and `…/epoch`, and one Ed25519 signing key
//! per admin identity this machine holds on the channel, `…/admin-key.<digits of the
//! number>` (enclave VAULT.md §20), in the same 0600 format with the same optional
//! passphrase. Files are replaced atomically (write to a temporary file, fsync, rename).

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

/// Admin signing key files: the same layout as SK files under their own magic (and their
/// own associated data, so an SK file cannot stand in for a key file or the reverse).
const ADMIN_MAGIC_RAW: &str = "sealboost-admin-key-v1 raw ";
const ADMIN_MAGIC_ENC: &str = "sealboost-admin-key-v1 argon2id ";
const ADMIN_KEY_PREFIX: &str = "admin-key.";
const NEXT_SUFFIX: &str = ".next";

/// Which kind of 32-byte secret a key file holds.
struct Format {
    raw: &'static str,
    enc: &'static str,
}
const SK_FORMAT: Format = Format {
    raw: MAGIC_RAW,
    enc: MAGIC_ENC,
};
const ADMIN_KEY_FORMAT: Format = Format {
    raw: ADMIN_MAGIC_RAW,
    enc: ADMIN_MAGIC_ENC,
};

/// One admin's request-signing key on this machine (enclave VAULT.md §20, wire SPEC §3.6
/// "Admin proof"). The seed is zeroized on drop (`ed25519-dalek` does so); never printed,
/// never cloned.
pub struct AdminSigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for AdminSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminSigningKey(<redacted>)")
    }
}

impl AdminSigningKey {
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut *seed);
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }
    fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }
    /// The verifying key the enclave registers for this admin.
    pub fn verifying_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.0.sign(msg).to_bytes()
    }
}

/// The file of `number`'s key: `admin-key.` and the number's digits (checked: `+` and
/// 8..=20 digits, so nothing else can reach the path).
fn admin_key_file(number: &str) -> Result<String, KeyStoreError> {
    let digits = number.strip_prefix('+').unwrap_or_default();
    if !(8..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KeyStoreError::BadNumber);
    }
    Ok(format!("{ADMIN_KEY_PREFIX}{digits}"))
}

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
    #[error("an admin number is + and 8 to 20 digits")]
    BadNumber,
    #[error("this machine holds no admin key for that number on this channel, so it cannot act as that admin: ask another admin to run `sealboost admin resend <channel> <your number>`, then run `sealboost admin accept` with the passphrase sent to your phone")]
    NoAdminKey,
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
        self.write_secret(channel, file, &SK_FORMAT, "", sk.expose(), passphrase)
    }

    /// Writes a 32-byte secret as one line: raw hex, or argon2id + XChaCha20-Poly1305 with
    /// associated data `enc magic ‖ channel ‖ aad_extra`.
    fn write_secret(
        &self,
        channel: &str,
        file: &str,
        fmt: &Format,
        aad_extra: &str,
        secret: &[u8; 32],
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        let (magic_raw, magic_enc) = (fmt.raw, fmt.enc);
        let dir = self.channel_dir(channel)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        let line = Zeroizing::new(match passphrase {
            None => format!("{magic_raw}{}\n", hex::encode(secret)),
            Some(p) => {
                let mut salt = [0u8; 16];
                let mut nonce = [0u8; 24];
                OsRng.fill_bytes(&mut salt);
                OsRng.fill_bytes(&mut nonce);
                let key = kdf(p, &salt)?;
                let aad = format!("{magic_enc}{channel}{aad_extra}");
                let ct = XChaCha20Poly1305::new((&*key).into())
                    .encrypt(
                        XNonce::from_slice(&nonce),
                        Payload {
                            msg: secret,
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| KeyStoreError::WrongPassphrase)?;
                format!(
                    "{magic_enc}m={ARGON2_M_KIB},t={ARGON2_T},p={ARGON2_P} {} {} {}\n",
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
        let b = self.read_secret(channel, file, &SK_FORMAT, "", passphrase)?;
        Ok(ChannelSk(b))
    }

    fn read_secret(
        &self,
        channel: &str,
        file: &str,
        fmt: &Format,
        aad_extra: &str,
        passphrase: impl FnOnce() -> Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
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
        if let Some(h) = line.strip_prefix(fmt.raw) {
            let raw = Zeroizing::new(hex::decode(h).map_err(|_| malformed())?);
            let b: [u8; 32] = raw.as_slice().try_into().map_err(|_| malformed())?;
            return Ok(Zeroizing::new(b));
        }
        let rest = line.strip_prefix(fmt.enc).ok_or_else(malformed)?;
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
        let aad = format!("{}{channel}{aad_extra}", fmt.enc);
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
        Ok(Zeroizing::new(b))
    }

    // ----- admin signing keys (one per admin number this machine acts as) -----

    /// Stores `number`'s signing key for `channel`, encrypted under `passphrase` if given.
    pub fn save_admin_key(
        &self,
        channel: &str,
        number: &str,
        key: &AdminSigningKey,
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        let file = admin_key_file(number)?;
        self.write_admin_key(channel, &file, number, key, passphrase)
    }

    /// Stores a key not yet registered with the enclave (an `admin accept` in flight) beside
    /// the current one, which stays in force until [`KeyStore::promote_next_admin_key`].
    pub fn save_next_admin_key(
        &self,
        channel: &str,
        number: &str,
        key: &AdminSigningKey,
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        let file = admin_key_file(number)? + NEXT_SUFFIX;
        self.write_admin_key(channel, &file, number, key, passphrase)
    }

    fn write_admin_key(
        &self,
        channel: &str,
        file: &str,
        number: &str,
        key: &AdminSigningKey,
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        let seed = Zeroizing::new(key.0.to_bytes());
        let aad = format!(" {number}");
        self.write_secret(channel, file, &ADMIN_KEY_FORMAT, &aad, &seed, passphrase)
    }

    /// `number`'s signing key for `channel`: `NoAdminKey` if this machine holds none.
    pub fn load_admin_key(
        &self,
        channel: &str,
        number: &str,
        passphrase: impl FnOnce() -> Option<Zeroizing<Vec<u8>>>,
    ) -> Result<AdminSigningKey, KeyStoreError> {
        let file = admin_key_file(number)?;
        let aad = format!(" {number}");
        match self.read_secret(channel, &file, &ADMIN_KEY_FORMAT, &aad, passphrase) {
            Ok(seed) => Ok(AdminSigningKey::from_seed(&seed)),
            Err(KeyStoreError::NoKey(_)) => Err(KeyStoreError::NoAdminKey),
            Err(e) => Err(e),
        }
    }

    /// Makes the key saved by [`KeyStore::save_next_admin_key`] the current one (rename).
    pub fn promote_next_admin_key(&self, channel: &str, number: &str) -> Result<(), KeyStoreError> {
        let dir = self.channel_dir(channel)?;
        let file = admin_key_file(number)?;
        let to = dir.join(&file);
        std::fs::rename(dir.join(file + NEXT_SUFFIX), &to).map_err(io(&to))
    }

    /// Forgets a key the enclave did not register (an acceptance that needed none).
    pub fn discard_next_admin_key(&self, channel: &str, number: &str) -> Result<(), KeyStoreError> {
        let path = self
            .channel_dir(channel)?
            .join(admin_key_file(number)? + NEXT_SUFFIX);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(KeyStoreError::Io { path, source: e }),
        }
    }

    /// Whether this machine holds `number`'s key for `channel`.
    pub fn has_admin_key(&self, channel: &str, number: &str) -> Result<bool, KeyStoreError> {
        Ok(self
            .channel_dir(channel)?
            .join(admin_key_file(number)?)
            .exists())
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
    fn admin_keys_round_trip_with_and_without_passphrase_one_per_number() {
        let d = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(d.path());
        let (a, b) = ("+15550001001", "+15550001002");
        assert!(!ks.has_admin_key(CH, a).unwrap());
        assert!(matches!(
            ks.load_admin_key(CH, a, || None),
            Err(KeyStoreError::NoAdminKey)
        ));
        let ka = AdminSigningKey::generate();
        let kb = AdminSigningKey::generate();
        ks.save_admin_key(CH, a, &ka, None).unwrap();
        ks.save_admin_key(CH, b, &kb, Some(b"correct horse"))
            .unwrap();
        let dir = d.path().join("channels").join(CH);
        for f in ["admin-key.15550001001", "admin-key.15550001002"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let got = ks.load_admin_key(CH, a, || None).unwrap();
        assert_eq!(got.verifying_key(), ka.verifying_key());
        assert_eq!(got.sign(b"m"), ka.sign(b"m"));
        // The encrypted one needs its passphrase and holds no hex of the seed.
        let text = std::fs::read_to_string(dir.join("admin-key.15550001002")).unwrap();
        assert!(!text.contains(&hex::encode(kb.0.to_bytes())));
        assert!(matches!(
            ks.load_admin_key(CH, b, || None),
            Err(KeyStoreError::PassphraseRequired)
        ));
        assert!(matches!(
            ks.load_admin_key(CH, b, || Some(Zeroizing::new(b"wrong".to_vec()))),
            Err(KeyStoreError::WrongPassphrase)
        ));
        let got = ks
            .load_admin_key(CH, b, || Some(Zeroizing::new(b"correct horse".to_vec())))
            .unwrap();
        assert_eq!(got.verifying_key(), kb.verifying_key());
        // A file moved to another number's name does not open as that number's key.
        std::fs::copy(
            dir.join("admin-key.15550001002"),
            dir.join("admin-key.15550001003"),
        )
        .unwrap();
        assert!(matches!(
            ks.load_admin_key(CH, "+15550001003", || Some(Zeroizing::new(
                b"correct horse".to_vec()
            ))),
            Err(KeyStoreError::WrongPassphrase)
        ));
        // Nor does an SK file, or the reverse.
        ks.save_sk(CH, &ChannelSk::from_bytes([4; 32]), None)
            .unwrap();
        std::fs::copy(dir.join("sk"), dir.join("admin-key.15550001004")).unwrap();
        assert!(matches!(
            ks.load_admin_key(CH, "+15550001004", || None),
            Err(KeyStoreError::Malformed(_))
        ));
        std::fs::copy(dir.join("admin-key.15550001001"), dir.join("sk")).unwrap();
        assert!(matches!(
            ks.load_sk(CH, || None),
            Err(KeyStoreError::Malformed(_))
        ));
        // Numbers are checked before they reach a path.
        assert!(matches!(
            ks.has_admin_key(CH, "+1/../../x"),
            Err(KeyStoreError::BadNumber)
        ));
    }

    #[test]
    fn a_next_admin_key_replaces_the_current_one_only_when_promoted() {
        let d = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(d.path());
        let n = "+15550001001";
        let old = AdminSigningKey::generate();
        let new = AdminSigningKey::generate();
        ks.save_admin_key(CH, n, &old, None).unwrap();
        ks.save_next_admin_key(CH, n, &new, None).unwrap();
        let cur = ks.load_admin_key(CH, n, || None).unwrap();
        assert_eq!(cur.verifying_key(), old.verifying_key());
        ks.promote_next_admin_key(CH, n).unwrap();
        let cur = ks.load_admin_key(CH, n, || None).unwrap();
        assert_eq!(cur.verifying_key(), new.verifying_key());
        ks.save_next_admin_key(CH, n, &AdminSigningKey::generate(), None)
            .unwrap();
        ks.discard_next_admin_key(CH, n).unwrap();
        let cur = ks.load_admin_key(CH, n, || None).unwrap();
        assert_eq!(cur.verifying_key(), new.verifying_key());
    }

    #[test]
    fn the_admin_signing_key_never_appears_in_debug_output() {
        let k = AdminSigningKey::generate();
        let seed = hex::encode(k.0.to_bytes());
        let s = format!("{k:?}");
        assert_eq!(s, "AdminSigningKey(<redacted>)");
        assert!(!s.contains(&seed[..8]));
        let e = format!("{:?}", KeyStoreError::NoAdminKey);
        assert!(!e.contains(&seed[..8]));
    }

    #[test]
    fn debug_is_redacted() {
        let sk = ChannelSk::from_bytes([0xab; 32]);
        let s = format!("{sk:?}");
        assert!(!s.contains("ab"), "{s}");
    }
}
