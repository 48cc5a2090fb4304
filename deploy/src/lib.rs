//! Operator tooling (DESIGN §9): measurements, the signed release policy, images and
//! launch configuration.
//!
//! - [`eif`]: build a Nitro EIF and compute PCR0/1/2/8 from one; [`cpio`]: its ramdisks.
//! - [`snp`]: the SEV-SNP launch measurement of a QEMU direct-boot guest.
//! - [`release`] and [`policy`]: the ed25519 release key and the policy it signs.
//! - [`launch`]: `nitro-cli` and QEMU launch configuration, debug mode refused.
//! - the simulation CA and simulated measurements (CI and development; not a TEE).
//!
//! Trusts: the operator's machine and the files it is pointed at. Produces: files the
//! host and enclave read, and the signed policy clients pin.
//!
//! A simulated deployment accepted by a pinned client, in a few lines:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (ca_dir, exe) = (std::path::Path::new("ca"), std::path::Path::new("sealboost-enclave"));
//! deploy::init_sim_ca(ca_dir)?;
//! let key = deploy::generate_release_key();
//! let draft = deploy::simulated_policy_draft(ca_dir, exe, 300, Some("ci"))?;
//! let signed: Vec<u8> = draft.sign_allowing_simulated(&key)?;
//! let pinned = key.verifying_key(); // what the client pins
//! # let _ = (signed, pinned); Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod cpio;
pub mod eif;
mod error;
pub mod launch;
mod pem;
pub mod policy;
pub mod release;
pub mod snp;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use attestation::simulated::{enclave_pcrs, SimulationCa};

pub use error::DeployError;
pub use policy::{verify_signed_policy, HostData, Platform, PolicyDraft, Tcb};
pub use release::{generate_release_key, load_release_key, release_public_hex};

/// File names inside a simulation CA directory.
pub const SIM_ROOT_PEM: &str = "sim-root.pem";
pub const SIM_CA_PEM: &str = "sim-ca.pem";
pub const SIM_ATTESTER_PEM: &str = "sim-attester.pem";

/// Writes `data` to `path` readable by the owner only (0600), replacing it atomically.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// Generates a simulation CA into `dir`: the root certificate (public), the CA key and the
/// attester material the simulated enclave signs with (both 0600). Returns the root's
/// SHA-256, which a policy names to trust it.
pub fn init_sim_ca(dir: &Path) -> anyhow::Result<[u8; 32]> {
    std::fs::create_dir_all(dir)?;
    let ca = SimulationCa::generate()?;
    std::fs::write(dir.join(SIM_ROOT_PEM), ca.root_cert_pem())?;
    write_private(&dir.join(SIM_CA_PEM), ca.to_pem()?.as_bytes())?;
    write_private(
        &dir.join(SIM_ATTESTER_PEM),
        ca.attester_material().to_pem()?.as_bytes(),
    )?;
    Ok(ca.root_sha256())
}

/// The PCRs a simulated enclave built as `exe` reports.
pub fn sim_measure(exe: &Path) -> anyhow::Result<Vec<(u8, String)>> {
    let bytes = std::fs::read(exe)?;
    Ok(enclave_pcrs(&bytes)
        .into_iter()
        .map(|(i, v)| (i, hex::encode(v)))
        .collect())
}

/// The simulated PCRs of `exe` as a policy PCR set.
pub fn sim_pcrs(exe: &Path) -> Result<BTreeMap<u8, [u8; 48]>, DeployError> {
    let bytes = std::fs::read(exe).map_err(DeployError::io(exe))?;
    Ok(enclave_pcrs(&bytes))
}

/// A draft that accepts the SIMULATED enclave `exe` attested by the simulation CA in
/// `sim_ca_dir` (its `sim-root.pem`). Sign it with
/// [`PolicyDraft::sign_allowing_simulated`] and a key that never signs production policies.
pub fn simulated_policy_draft(
    sim_ca_dir: &Path,
    exe: &Path,
    max_evidence_age_secs: u64,
    label: Option<&str>,
) -> Result<PolicyDraft, DeployError> {
    let root = policy::sim_root_sha256(&sim_ca_dir.join(SIM_ROOT_PEM))?;
    let mut draft = PolicyDraft::empty().with_simulated(root, max_evidence_age_secs)?;
    draft.add_simulated(label, sim_pcrs(exe)?)?;
    Ok(draft)
}
