//! Verification time per Nitro document and per SEV-SNP report, on the real vectors.
//!
//! `cargo bench -p attestation --bench verify` (release profile). Prints one line per
//! evidence kind: mean, median and min over the iterations of one run. Goal: ≤ 5 ms each.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use attestation::policy::{self, SignedPolicy};
use attestation::{verify, Evidence, Policy, UnixTime};

const ITERATIONS: usize = 200;

fn vectors() -> Option<PathBuf> {
    let dir = std::env::var_os("SEALBOOST_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    dir.join("README.md").is_file().then_some(dir)
}

fn policy(body: &str) -> Policy {
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let file = policy::sign(body.as_bytes(), &key).expect("valid policy");
    SignedPolicy::parse(&file)
        .and_then(|p| p.verify(&key.verifying_key()))
        .expect("policy verifies")
}

fn measure(name: &str, evidence: &Evidence, policy: &Policy, at: u64) {
    let now = UnixTime::from_secs(at);
    verify(evidence, policy, now).expect("vector verifies");
    let mut times: Vec<Duration> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            let v = verify(evidence, policy, now);
            let t = start.elapsed();
            assert!(v.is_ok());
            t
        })
        .collect();
    times.sort();
    let total: Duration = times.iter().sum();
    let mean = total / u32::try_from(ITERATIONS).unwrap_or(1);
    println!(
        "{name:<34} mean {:>7.3} ms   median {:>7.3} ms   min {:>7.3} ms   ({ITERATIONS} runs)",
        mean.as_secs_f64() * 1e3,
        times[ITERATIONS / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
    );
}

fn main() {
    let Some(dir) = vectors() else {
        eprintln!("!! no vectors (set SEALBOOST_VECTORS); nothing to measure");
        return;
    };
    let read = |rel: &str| std::fs::read(dir.join(rel)).expect("vector readable");

    let nitro = policy(
        "version = 1\n[nitro]\nmax_evidence_age_secs = 10800\n[[nitro.allowed]]\npcrs = { \
         0 = \"67fdc91606ca9d5e73c35412f7d22397deb3f56ff2365803c66f0924f1dbeb29517fa4a62014b0bf49bd59541e4bcdd7\", \
         1 = \"52b919754e1643f4027eeee8ec39cc4a2cb931723de0c93ce5cc8d407467dc4302e86490c01c0d755acfe10dbf657546\", \
         2 = \"18e034916997b8e97edfc79e743f70ddcef21a45841a7a8727e2b6d094b1941bd6f988d806df1471025bcccfe35c4572\" }\n",
    );
    measure(
        "Nitro document (libsignal prod)",
        &Evidence::Nitro(read("nitro/libsignal-prod-20240116.cose")),
        &nitro,
        1_705_432_216,
    );

    for (name, report, cert, m) in [
        ("SEV-SNP report (Milan, oak)", "snp/oak-milan_oc_release.report", "snp/oak-milan_oc_release.vcek.der",
         "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3"),
        ("SEV-SNP report (Genoa, oak)", "snp/oak-genoa_oc.report", "snp/oak-genoa_oc.vcek.der",
         "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc"),
        ("SEV-SNP report (Turin, oak)", "snp/oak-turin_oc.report", "snp/oak-turin_oc.vcek.der",
         "f924dd18f168df60fbea937f0b086284d51b1b376de872bac43694f61134d57967c318018de7335503023dbb50dee624"),
    ] {
        let p = policy(&format!(
            "version = 1\n[sev_snp]\nallow_vlek = false\n\
             [sev_snp.minimum_tcb.milan]\nbootloader = 0\ntee = 0\nsnp = 0\nmicrocode = 0\n\
             [sev_snp.minimum_tcb.genoa]\nbootloader = 0\ntee = 0\nsnp = 0\nmicrocode = 0\n\
             [sev_snp.minimum_tcb.turin]\nfmc = 0\nbootloader = 0\ntee = 0\nsnp = 0\nmicrocode = 0\n\
             [[sev_snp.allowed]]\nmeasurement = \"{m}\"\nhost_data = \"skip\"\n"
        ));
        let ev = Evidence::SevSnp {
            report: read(report),
            vcek_or_vlek: read(cert),
            ask_or_asvk: None,
        };
        measure(name, &ev, &p, 1_756_684_800);
    }
}
