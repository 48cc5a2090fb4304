//! Operator tooling (DESIGN §9). Today: the simulation CA and simulated-enclave
//! measurements. The release-policy and image tooling of issue 7 grow here.
//!
//! Trusts: the operator's machine and the files it is pointed at. Produces: files the
//! host and enclave read, and measurements that go into the signed release policy.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use attestation::simulated::{enclave_pcrs, SimulationCa};

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
