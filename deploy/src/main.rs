//! `sealboost-deploy`: see the crate docs.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sealboost-deploy",
    version,
    about = "sealboost operator tooling"
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
    }
    Ok(())
}
