//! `sealboost-deploy`: see the crate docs and docs/OPERATIONS.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use deploy::eif::{Arch, EifInputs, EifSigner};
use deploy::launch::{snp_qemu_argv, NitroRunConfig};
use deploy::policy::{parse_pcr_arg, parse_tcb_arg, sim_root_sha256};
use deploy::snp::{SnpLaunch, Vmm, DEFAULT_GUEST_FEATURES};
use deploy::{HostData, Platform, PolicyDraft};

#[derive(Parser)]
#[command(
    name = "sealboost-deploy",
    version,
    about = "sealboost operator tooling: measurements, release policy, images, launch config"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a SIMULATION CA (not a TEE root) into a directory.
    SimCa {
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the PCRs a simulated enclave executable reports.
    SimMeasure {
        #[arg(long)]
        exe: PathBuf,
    },
    /// Compute the measurements of a Nitro EIF (--eif) or an SEV-SNP guest (--snp).
    Measure(MeasureArgs),
    /// Build a Nitro Enclave image file.
    #[command(subcommand)]
    Eif(EifCmd),
    /// The signed release policy clients pin.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Launch configuration for nitro-cli and QEMU (debug mode refused).
    #[command(subcommand)]
    Launch(LaunchCmd),
}

#[derive(Args)]
struct MeasureArgs {
    /// The EIF to measure (PCR0, PCR1, PCR2, and PCR8 when signed).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "snp",
        conflicts_with = "snp"
    )]
    eif: Option<PathBuf>,
    /// Compute an SEV-SNP launch measurement instead.
    #[arg(long, requires_all = ["ovmf", "kernel", "initrd", "cmdline", "vcpus", "vcpu_type"])]
    snp: bool,
    #[command(flatten)]
    snp_args: SnpArgs,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SnpArgs {
    /// OVMF firmware built with SNP metadata (the AmdSev package).
    #[arg(long, value_name = "FILE")]
    ovmf: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// Kernel command line exactly as passed to QEMU's -append.
    #[arg(long, allow_hyphen_values = true)]
    cmdline: Option<String>,
    #[arg(long)]
    vcpus: Option<u32>,
    /// QEMU -cpu model, e.g. EPYC-v4 (what sealboost-host passes), EPYC-Milan, EPYC-Genoa.
    #[arg(long)]
    vcpu_type: Option<String>,
    /// SEV_FEATURES of the VMSA (0x1 = SNPActive only; 0x21 adds DebugSwap).
    #[arg(long, value_parser = parse_u64, default_value_t = DEFAULT_GUEST_FEATURES)]
    guest_features: u64,
    #[arg(long, value_enum, default_value = "qemu")]
    vmm: Vmm,
}

impl SnpArgs {
    fn launch(&self) -> anyhow::Result<SnpLaunch> {
        let need =
            |v: &Option<PathBuf>, n: &str| v.clone().with_context(|| format!("--{n} is required"));
        Ok(SnpLaunch {
            ovmf: need(&self.ovmf, "ovmf")?,
            kernel: need(&self.kernel, "kernel")?,
            initrd: need(&self.initrd, "initrd")?,
            cmdline: self.cmdline.clone().context("--cmdline is required")?,
            vcpus: self.vcpus.context("--vcpus is required")?,
            vcpu_type: self.vcpu_type.clone().context("--vcpu-type is required")?,
            guest_features: self.guest_features,
            vmm: self.vmm,
        })
    }
}

fn parse_u64(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|e| e.to_string())
}

#[derive(Subcommand)]
enum EifCmd {
    /// Write a deterministic initramfs (cpio newc): owner 0:0, one mtime, sorted entries.
    Ramdisk {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// PATH: a directory (0755).
        #[arg(long = "dir", value_name = "PATH")]
        dirs: Vec<String>,
        /// PATH=SOURCE[:MODE]: a file copied from SOURCE (mode octal, default 0644).
        #[arg(long = "file", value_name = "PATH=SOURCE[:MODE]")]
        files: Vec<String>,
        /// PATH=LINE: a file whose lines are the given values (repeat PATH to add lines).
        #[arg(long = "line", value_name = "PATH=LINE", allow_hyphen_values = true)]
        lines: Vec<String>,
        /// PATH=MAJOR:MINOR: a character device (0600), e.g. dev/console=5:1.
        #[arg(long = "chardev", value_name = "PATH=MAJ:MIN")]
        chardevs: Vec<String>,
        /// Timestamp of every entry. Default: $SOURCE_DATE_EPOCH, or 0.
        #[arg(long)]
        mtime: Option<u32>,
    },
    /// Write an EIF from a kernel, a command line and ramdisks; print its PCRs.
    Build {
        #[arg(long, value_name = "FILE")]
        kernel: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        cmdline: String,
        /// Repeatable. The first is the bootstrap ramdisk (PCR1), the rest the application
        /// (PCR2).
        #[arg(long = "ramdisk", value_name = "FILE", required = true)]
        ramdisks: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "x86_64")]
        arch: Arch,
        /// Memory recorded in the header as the default (nitro-cli's --memory wins).
        #[arg(long, default_value_t = 1024)]
        default_memory_mib: u64,
        #[arg(long, default_value_t = 2)]
        default_cpus: u64,
        #[arg(long, default_value = "sealboost-enclave")]
        name: String,
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        image_version: String,
        /// Build time recorded in the (unmeasured) metadata. Default: $SOURCE_DATE_EPOCH, or 0.
        #[arg(long)]
        build_time: Option<u64>,
        /// Signing certificate (PEM, P-384): makes a signed image with PCR8.
        #[arg(long, value_name = "FILE", requires = "signing_key")]
        signing_cert: Option<PathBuf>,
        /// Its private key (PKCS#8 or SEC1 PEM).
        #[arg(long, value_name = "FILE", requires = "signing_cert")]
        signing_key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Generate a release key: DIR/release-key.pem (0600, keep offline) and
    /// DIR/release-key.pub (hex, what clients pin).
    Keygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Start a policy draft with the chosen platform sections and no measurements.
    New {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Accept AWS Nitro evidence.
        #[arg(long)]
        nitro: bool,
        /// Accept AMD SEV-SNP evidence; needs at least one --snp-min-tcb.
        #[arg(long, requires = "snp_min_tcb")]
        sev_snp: bool,
        /// GEN:bootloader=N,tee=N,snp=N,microcode=N[,fmc=N] (repeatable; GEN = milan,
        /// genoa, turin; turin needs fmc).
        #[arg(long, requires = "sev_snp")]
        snp_min_tcb: Vec<String>,
        /// Accept SEV-SNP reports signed by a cloud provider's VLEK.
        #[arg(long, requires = "sev_snp")]
        allow_vlek: bool,
        /// SIMULATION (not a TEE): trust the simulation root in this PEM file.
        #[arg(long, value_name = "PEM")]
        simulated_root: Option<PathBuf>,
        /// Maximum age of Nitro / simulated evidence.
        #[arg(long, default_value_t = 300)]
        max_evidence_age_secs: u64,
        /// Replace an existing draft.
        #[arg(long)]
        force: bool,
    },
    /// Allow one more measurement (a new release) in a draft.
    AddMeasurement(AddArgs),
    /// Remove the entries with a label (retire a release) from a draft.
    RemoveMeasurement {
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        #[arg(long, value_enum)]
        platform: Platform,
        #[arg(long)]
        label: String,
    },
    /// Sign a draft with the release key.
    Sign {
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Sign even though the draft trusts a SIMULATION root (test deployments only,
        /// with a key that never signs production policies).
        #[arg(long)]
        allow_simulated: bool,
    },
    /// Verify a signed policy as a client does and print what it accepts.
    Verify {
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// The pinned public key: a file with 64 hex digits, or the digits themselves.
        #[arg(long, value_name = "HEX|FILE")]
        release_key: String,
    },
}

#[derive(Args)]
struct AddArgs {
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    #[arg(long, value_enum)]
    platform: Platform,
    /// For humans (release name, date); used by remove-measurement.
    #[arg(long)]
    label: Option<String>,
    /// nitro: take PCR0/1/2 (and 8) from this EIF.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["exe", "pcr", "measurement"])]
    eif: Option<PathBuf>,
    /// simulated: take the PCRs of this enclave executable.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["pcr", "measurement"])]
    exe: Option<PathBuf>,
    /// INDEX=96HEX (repeatable), for nitro or simulated.
    #[arg(long, conflicts_with = "measurement")]
    pcr: Vec<String>,
    /// sev-snp: MEASUREMENT (96 hex digits) from `measure --snp`.
    #[arg(long)]
    measurement: Option<String>,
    /// sev-snp: required HOST_DATA (64 hex digits).
    #[arg(long, conflicts_with = "skip_host_data")]
    host_data: Option<String>,
    /// sev-snp: do not check HOST_DATA (explicit).
    #[arg(long)]
    skip_host_data: bool,
}

#[derive(Subcommand)]
enum LaunchCmd {
    /// Write the `nitro-cli run-enclave --config` file (debug mode off) and print the
    /// matching sealboost-host flags.
    NitroConfig {
        #[arg(long, value_name = "FILE")]
        eif: PathBuf,
        #[arg(long, default_value_t = 16)]
        cid: u32,
        #[arg(long, default_value_t = 2048)]
        memory_mib: u32,
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check an existing nitro-cli config file (refuses debug mode).
    CheckNitroConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the QEMU command for an SNP guest and its launch measurement.
    SnpQemu {
        #[arg(long, default_value = "qemu-system-x86_64")]
        qemu: PathBuf,
        #[command(flatten)]
        snp: SnpArgs,
        #[arg(long, default_value_t = 2048)]
        memory_mib: u32,
        #[arg(long, default_value_t = 16)]
        cid: u32,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::SimCa { out } => {
            let fp = deploy::init_sim_ca(&out)?;
            println!("simulation root sha256 {}", hex::encode(fp));
        }
        Cmd::SimMeasure { exe } => {
            for (i, v) in deploy::sim_measure(&exe)? {
                println!("PCR{i} {v}");
            }
        }
        Cmd::Measure(a) => measure(a)?,
        Cmd::Eif(EifCmd::Ramdisk {
            out,
            dirs,
            files,
            lines,
            chardevs,
            mtime,
        }) => ramdisk(&out, &dirs, &files, &lines, &chardevs, mtime)?,
        Cmd::Eif(EifCmd::Build {
            kernel,
            cmdline,
            ramdisks,
            out,
            arch,
            default_memory_mib,
            default_cpus,
            name,
            image_version,
            build_time,
            signing_cert,
            signing_key,
            json,
        }) => {
            let signer = match (signing_cert, signing_key) {
                (Some(c), Some(k)) => Some(EifSigner::from_pem(&read_text(&c)?, &read_text(&k)?)?),
                _ => None,
            };
            let build_time_unix = match build_time {
                Some(t) => t,
                None => source_date_epoch()?,
            };
            let info = deploy::eif::build_eif(
                &EifInputs {
                    kernel,
                    cmdline,
                    ramdisks,
                    arch,
                    default_mem_mib: default_memory_mib,
                    default_cpus,
                    image_name: name,
                    image_version,
                    build_time_unix,
                    signer,
                },
                &out,
            )?;
            print_pcrs(&info.measurements.pcrs(), json);
        }
        Cmd::Policy(p) => policy(p)?,
        Cmd::Launch(l) => launch(l)?,
    }
    Ok(())
}

fn source_date_epoch() -> anyhow::Result<u64> {
    Ok(std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .map(|s| s.parse().context("SOURCE_DATE_EPOCH is not a number"))
        .transpose()?
        .unwrap_or(0))
}

fn ramdisk(
    out: &Path,
    dirs: &[String],
    files: &[String],
    lines: &[String],
    chardevs: &[String],
    mtime: Option<u32>,
) -> anyhow::Result<()> {
    use deploy::cpio::{Archive, Entry};
    let split = |s: &str| -> anyhow::Result<(String, String)> {
        let (a, b) = s
            .split_once('=')
            .with_context(|| format!("{s:?}: expected PATH=..."))?;
        Ok((a.to_owned(), b.to_owned()))
    };
    let mut a = Archive::new();
    for d in dirs {
        a.add(d, Entry::Dir { mode: 0o755 })?;
    }
    for f in files {
        let (path, rest) = split(f)?;
        let (source, mode) = match rest.rsplit_once(':') {
            Some((src, m)) if !m.is_empty() && m.bytes().all(|b| (b'0'..=b'7').contains(&b)) => {
                (src.to_owned(), u32::from_str_radix(m, 8)?)
            }
            _ => (rest, 0o644),
        };
        a.add(
            &path,
            Entry::File {
                source: source.into(),
                mode,
            },
        )?;
    }
    let mut texts: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for l in lines {
        let (path, line) = split(l)?;
        if line.contains('\n') {
            bail!("{path}: a line cannot contain a newline");
        }
        let t = texts.entry(path).or_default();
        t.extend_from_slice(line.as_bytes());
        t.push(b'\n');
    }
    for (path, data) in texts {
        a.add(&path, Entry::Bytes { data, mode: 0o644 })?;
    }
    for c in chardevs {
        let (path, dev) = split(c)?;
        let (maj, min) = dev.split_once(':').context("expected MAJOR:MINOR")?;
        a.add(
            &path,
            Entry::CharDev {
                major: maj.parse()?,
                minor: min.parse()?,
                mode: 0o600,
            },
        )?;
    }
    let mtime = match mtime {
        Some(t) => t,
        None => u32::try_from(source_date_epoch()?).context("SOURCE_DATE_EPOCH past 2106")?,
    };
    let bytes = a.to_bytes(mtime)?;
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

fn read_text(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

fn print_pcrs(pcrs: &BTreeMap<u8, [u8; 48]>, json: bool) {
    if json {
        let m: serde_json::Map<String, serde_json::Value> = pcrs
            .iter()
            .map(|(i, v)| (format!("PCR{i}"), hex::encode(v).into()))
            .collect();
        println!("{}", serde_json::Value::Object(m));
    } else {
        for (i, v) in pcrs {
            println!("PCR{i} {}", hex::encode(v));
        }
    }
}

fn measure(a: MeasureArgs) -> anyhow::Result<()> {
    if let Some(eif) = a.eif {
        let info = deploy::eif::measure_eif(&eif)?;
        if !a.json {
            let signed = if info.measurements.pcr8.is_some() {
                "signed"
            } else {
                "unsigned"
            };
            eprintln!(
                "EIF v{} {:?} {} sections, {signed}, crc32 {:08x}",
                info.version,
                info.arch,
                info.sections.len(),
                info.crc32
            );
        }
        print_pcrs(&info.measurements.pcrs(), a.json);
        return Ok(());
    }
    let launch = a.snp_args.launch()?;
    let m = deploy::snp::snp_launch_digest(&launch)?;
    if a.json {
        println!("{}", serde_json::json!({ "MEASUREMENT": hex::encode(m) }));
    } else {
        println!("MEASUREMENT {}", hex::encode(m));
    }
    Ok(())
}

fn write_draft(path: &Path, draft: &PolicyDraft) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, draft.to_toml()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn policy(cmd: PolicyCmd) -> anyhow::Result<()> {
    match cmd {
        PolicyCmd::Keygen { out } => {
            let vk = deploy::release::write_new_release_key(&out)?;
            println!("release public key {}", deploy::release_public_hex(&vk));
            eprintln!(
                "wrote {0}/release-key.pem (0600: move it offline now) and {0}/release-key.pub",
                out.display()
            );
        }
        PolicyCmd::New {
            out,
            nitro,
            sev_snp,
            snp_min_tcb,
            allow_vlek,
            simulated_root,
            max_evidence_age_secs,
            force,
        } => {
            if out.exists() && !force {
                bail!("{} exists (use --force to replace it)", out.display());
            }
            if !nitro && !sev_snp && simulated_root.is_none() {
                bail!("choose at least one of --nitro, --sev-snp, --simulated-root");
            }
            let mut d = PolicyDraft::empty();
            if nitro {
                d = d.with_nitro(max_evidence_age_secs)?;
            }
            if sev_snp {
                let tcbs = snp_min_tcb
                    .iter()
                    .map(|s| parse_tcb_arg(s))
                    .collect::<Result<BTreeMap<_, _>, _>>()?;
                d = d.with_sev_snp(allow_vlek, tcbs)?;
            }
            if let Some(root) = simulated_root {
                eprintln!("WARNING: this draft trusts a SIMULATION root (not a TEE)");
                d = d.with_simulated(sim_root_sha256(&root)?, max_evidence_age_secs)?;
            }
            write_draft(&out, &d)?;
            eprintln!("wrote draft {}; add measurements next", out.display());
        }
        PolicyCmd::AddMeasurement(a) => add_measurement(a)?,
        PolicyCmd::RemoveMeasurement {
            policy,
            platform,
            label,
        } => {
            let mut d = PolicyDraft::load(&policy)?;
            let n = d.remove(platform, &label)?;
            write_draft(&policy, &d)?;
            eprintln!(
                "removed {n} entr{} from [{}]",
                if n == 1 { "y" } else { "ies" },
                platform.section()
            );
        }
        PolicyCmd::Sign {
            policy,
            key,
            out,
            allow_simulated,
        } => {
            let d = PolicyDraft::load(&policy)?;
            let key = deploy::load_release_key(&key)?;
            let signed = if allow_simulated {
                d.sign_allowing_simulated(&key)?
            } else {
                d.sign(&key)?
            };
            std::fs::write(&out, &signed).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "signed {} with release key {}",
                out.display(),
                deploy::release_public_hex(&key.verifying_key())
            );
        }
        PolicyCmd::Verify {
            policy,
            release_key,
        } => {
            let vk = if Path::new(&release_key).exists() {
                deploy::release::load_release_public(Path::new(&release_key))?
            } else {
                deploy::release::release_public_from_hex(&release_key)?
            };
            let file =
                std::fs::read(&policy).with_context(|| format!("reading {}", policy.display()))?;
            let p = deploy::verify_signed_policy(&file, &vk)?;
            println!(
                "OK: signed by release key {}",
                deploy::release_public_hex(&vk)
            );
            if let Some(n) = p.nitro() {
                println!(
                    "nitro: {} PCR set(s), max evidence age {} s",
                    n.allowed().len(),
                    n.max_evidence_age_secs()
                );
            }
            if let Some(s) = p.sev_snp() {
                let gens: Vec<String> = s.minimum_tcb().keys().map(|g| g.to_string()).collect();
                println!(
                    "sev-snp: {} measurement(s), generations {}, VLEK {}",
                    s.allowed().len(),
                    gens.join(","),
                    if s.allow_vlek() {
                        "accepted"
                    } else {
                        "refused"
                    }
                );
            }
            if let Some(s) = p.simulated() {
                println!(
                    "SIMULATED (NOT A TEE): {} PCR set(s), root sha256 {}",
                    s.pcrs().allowed().len(),
                    hex::encode(s.trusted_root_sha256())
                );
            }
        }
    }
    Ok(())
}

fn add_measurement(a: AddArgs) -> anyhow::Result<()> {
    let mut d = PolicyDraft::load(&a.policy)?;
    let label = a.label.as_deref();
    let pcrs_from_args = || -> anyhow::Result<BTreeMap<u8, [u8; 48]>> {
        let mut m = BTreeMap::new();
        for p in &a.pcr {
            let (i, v) = parse_pcr_arg(p)?;
            if m.insert(i, v).is_some() {
                bail!("PCR{i} given twice");
            }
        }
        Ok(m)
    };
    match a.platform {
        Platform::Nitro => {
            let pcrs = match &a.eif {
                Some(eif) => deploy::eif::measure_eif(eif)?.measurements.pcrs(),
                None if !a.pcr.is_empty() => pcrs_from_args()?,
                None => bail!("nitro: give --eif FILE or --pcr INDEX=HEX"),
            };
            d.add_nitro(label, pcrs)?;
        }
        Platform::Simulated => {
            let pcrs = match &a.exe {
                Some(exe) => deploy::sim_pcrs(exe)?,
                None if !a.pcr.is_empty() => pcrs_from_args()?,
                None => bail!("simulated: give --exe FILE or --pcr INDEX=HEX"),
            };
            d.add_simulated(label, pcrs)?;
        }
        Platform::SevSnp => {
            let m = a
                .measurement
                .as_deref()
                .context("sev-snp: give --measurement HEX")?;
            let mut measurement = [0u8; 48];
            hex::decode_to_slice(m, &mut measurement)
                .context("--measurement must be 96 hex digits")?;
            let host_data = match (&a.host_data, a.skip_host_data) {
                (Some(h), false) => {
                    let mut hd = [0u8; 32];
                    hex::decode_to_slice(h, &mut hd)
                        .context("--host-data must be 64 hex digits")?;
                    HostData::Expected(hd)
                }
                (None, true) => HostData::Skip,
                _ => bail!("sev-snp: give --host-data HEX or --skip-host-data"),
            };
            d.add_sev_snp(label, measurement, host_data)?;
        }
    }
    write_draft(&a.policy, &d)?;
    eprintln!(
        "added to [{}] in {}",
        a.platform.section(),
        a.policy.display()
    );
    Ok(())
}

fn launch(cmd: LaunchCmd) -> anyhow::Result<()> {
    match cmd {
        LaunchCmd::NitroConfig {
            eif,
            cid,
            memory_mib,
            cpus,
            out,
        } => {
            let c = NitroRunConfig::new(&eif, cid, memory_mib, cpus)?;
            std::fs::write(&out, c.to_json())
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {} (debug_mode false)", out.display());
            println!("sealboost-host run {}", c.host_flags().join(" "));
        }
        LaunchCmd::CheckNitroConfig { config } => {
            let c = NitroRunConfig::parse(&read_text(&config)?)?;
            println!(
                "OK: cid {} memory {} MiB cpus {} debug off",
                c.enclave_cid, c.memory_mib, c.cpu_count
            );
        }
        LaunchCmd::SnpQemu {
            qemu,
            snp,
            memory_mib,
            cid,
        } => {
            let launch = snp.launch()?;
            let argv = snp_qemu_argv(&qemu, &launch, memory_mib, cid)?;
            let m = deploy::snp::snp_launch_digest(&launch)?;
            println!("MEASUREMENT {}", hex::encode(m));
            println!("{}", shell_join(&argv));
        }
    }
    Ok(())
}

fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_=,./:".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
