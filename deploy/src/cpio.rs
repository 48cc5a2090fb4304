//! Deterministic initramfs archives (cpio "newc", the format the Linux kernel unpacks).
//!
//! Every field that could vary between builds is fixed: entries sorted by path, parent
//! directories added, owner 0:0, one mtime for all (SOURCE_DATE_EPOCH), inode numbers
//! assigned in order, modes given explicitly. The same inputs give the same bytes, so the
//! EIF ramdisks, and with them PCR0–PCR2, are reproducible.
//!
//! Layout of each entry: the ASCII magic `070701`, thirteen 8-digit hex fields (ino, mode,
//! uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize
//! including the NUL, check = 0), the name and a NUL padded to 4 bytes, the data padded to
//! 4 bytes. The archive ends with an entry named `TRAILER!!!`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::DeployError;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// What one archive path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        mode: u32,
    },
    /// Contents read from a file when the archive is written.
    File {
        source: PathBuf,
        mode: u32,
    },
    /// Literal contents.
    Bytes {
        data: Vec<u8>,
        mode: u32,
    },
    CharDev {
        major: u32,
        minor: u32,
        mode: u32,
    },
}

/// An archive under construction: archive path (no leading `/`) → entry.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

fn bad(reason: impl Into<String>) -> DeployError {
    DeployError::EifInput {
        reason: reason.into(),
    }
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `entry` at `path` and any missing parent directories (mode 0755).
    pub fn add(&mut self, path: &str, entry: Entry) -> Result<(), DeployError> {
        let path = path.trim_start_matches('/');
        if path.is_empty()
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'))
        {
            return Err(bad(format!("bad archive path {path:?}")));
        }
        let mut parent = String::new();
        let comps: Vec<&str> = path.split('/').collect();
        for c in &comps[..comps.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(c);
            match self.entries.get(&parent) {
                None => {
                    self.entries
                        .insert(parent.clone(), Entry::Dir { mode: 0o755 });
                }
                Some(Entry::Dir { .. }) => {}
                Some(_) => return Err(bad(format!("{parent:?} is not a directory"))),
            }
        }
        if self.entries.contains_key(path) {
            return Err(bad(format!("{path:?} given twice")));
        }
        self.entries.insert(path.to_owned(), entry);
        Ok(())
    }

    /// The archive bytes.
    pub fn to_bytes(&self, mtime: u32) -> Result<Vec<u8>, DeployError> {
        let mut out = Vec::new();
        for (ino, (path, entry)) in (1u32..).zip(&self.entries) {
            let (mode, data, rdev) = match entry {
                Entry::Dir { mode } => (S_IFDIR | mode, Vec::new(), (0, 0)),
                Entry::File { source, mode } => (
                    S_IFREG | mode,
                    std::fs::read(source).map_err(DeployError::io(source))?,
                    (0, 0),
                ),
                Entry::Bytes { data, mode } => (S_IFREG | mode, data.clone(), (0, 0)),
                Entry::CharDev { major, minor, mode } => {
                    (S_IFCHR | mode, Vec::new(), (*major, *minor))
                }
            };
            let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
            push_entry(&mut out, ino, mode, nlink, mtime, rdev, path, &data)?;
        }
        push_entry(&mut out, 0, 0, 1, 0, (0, 0), "TRAILER!!!", &[])?;
        Ok(out)
    }
}

#[allow(clippy::too_many_arguments)] // one field each, in the header's order
fn push_entry(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    rdev: (u32, u32),
    name: &str,
    data: &[u8],
) -> Result<(), DeployError> {
    let size = u32::try_from(data.len()).map_err(|_| bad("file larger than 4 GiB"))?;
    let namesize = u32::try_from(name.len() + 1).map_err(|_| bad("name too long"))?;
    out.extend_from_slice(b"070701");
    for v in [
        ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev.0, rdev.1, namesize, 0,
    ] {
        out.extend_from_slice(format!("{v:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
    Ok(())
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}
