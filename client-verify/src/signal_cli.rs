//! `sealboost broadcast|private|reply|mailbox`: act as an admin of a channel from the
//! command line, exactly as if the admin had sent the command over Signal. Each call is one
//! unlock: the enclave first processes the mailbox, then runs the command, and the texts
//! addressed to this admin are printed here (never sent to their phone as well).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::admin::AdminError;
use crate::attest_cli::EXIT_USAGE;
use crate::channel_cli::{connect, fail, passphrase, print, runtime, Connection};

#[derive(Debug, Subcommand)]
pub enum SignalCommand {
    /// Send TEXT to every subscriber (admins get `[BROADCAST FROM ADMIN n]`).
    Broadcast {
        channel: String,
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        /// Act as this admin number (default: the number you created or joined with).
        #[arg(long = "as")]
        as_admin: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Send TEXT to the other admins only.
    Private {
        channel: String,
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        #[arg(long = "as")]
        as_admin: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Answer hotline sender @ID (e.g. `@3`) without anyone seeing their number.
    Reply {
        channel: String,
        /// The hotline id, `@3` or `3`.
        id: String,
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        #[arg(long = "as")]
        as_admin: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Process waiting messages and show what was addressed to you.
    Mailbox {
        channel: String,
        #[arg(long = "as")]
        as_admin: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
}

impl SignalCommand {
    fn channel(&self) -> &str {
        match self {
            Self::Broadcast { channel, .. }
            | Self::Private { channel, .. }
            | Self::Reply { channel, .. }
            | Self::Mailbox { channel, .. } => channel,
        }
    }
    fn conn(&self) -> &Connection {
        match self {
            Self::Broadcast { conn, .. }
            | Self::Private { conn, .. }
            | Self::Reply { conn, .. }
            | Self::Mailbox { conn, .. } => conn,
        }
    }
    fn as_admin(&self) -> Option<&str> {
        match self {
            Self::Broadcast { as_admin, .. }
            | Self::Private { as_admin, .. }
            | Self::Reply { as_admin, .. }
            | Self::Mailbox { as_admin, .. } => as_admin.as_deref(),
        }
    }
    /// The command text as the admin would type it in Signal.
    fn text(&self) -> Option<String> {
        match self {
            Self::Broadcast { text, .. } => Some(format!("BROADCAST {}", text.join(" "))),
            Self::Private { text, .. } => Some(format!("PRIVATE {}", text.join(" "))),
            Self::Reply { id, text, .. } => Some(format!(
                "REPLY @{} {}",
                id.trim_start_matches(['@', '#']),
                text.join(" ")
            )),
            Self::Mailbox { .. } => None,
        }
    }
}

fn human(v: &Value) -> String {
    let mut out = String::new();
    for t in v["texts"].as_array().into_iter().flatten() {
        out.push_str(t.as_str().unwrap_or(""));
        out.push('\n');
    }
    let s = &v["stats"];
    out.push_str(&format!(
        "({} processed, {} delivered, {} failed, {} rejected; {} still waiting)\n",
        s["processed"], s["delivered"], s["failed"], s["rejected"], v["remaining"]
    ));
    // The rarer counters, only when something happened.
    for (key, what) in [
        (
            "withheld",
            "withheld from an admin whose safety number changed",
        ),
        ("duplicates", "received twice (skipped)"),
        (
            "retry_requested",
            "could not be read; the sender was asked to send again",
        ),
        ("retry_received", "sessions restarted at a member's request"),
    ] {
        if let Some(n) = s[key].as_u64().filter(|n| *n > 0) {
            out.push_str(&format!("({n} {what})\n"));
        }
    }
    out
}

async fn go(c: &Connection, cmd: &SignalCommand) -> Result<ExitCode, AdminError> {
    let Some(mut client) = connect(c).await? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let channel = cmd.channel();
    let admin = match cmd.as_admin() {
        Some(a) => a.to_owned(),
        None => match client.admin_number(channel)? {
            Some(a) => a,
            None => {
                eprintln!("sealboost: no admin number recorded for {channel}; pass --as +NUMBER");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        },
    };
    let pass = || passphrase(c);
    let v = match cmd.text() {
        Some(text) => client.command(channel, &admin, &text, &pass).await?,
        None => client.mailbox(channel, &admin, &pass).await?,
    };
    print(c, &v, human);
    Ok(ExitCode::SUCCESS)
}

pub fn run(cmd: &SignalCommand) -> ExitCode {
    let c = cmd.conn();
    match runtime().block_on(go(c, cmd)) {
        Ok(code) => code,
        Err(e) => fail(c, &e),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::human;

    #[test]
    fn the_summary_names_rare_counters_only_when_they_happened() {
        let quiet = json!({
            "texts": ["Broadcast sent."],
            "remaining": 0,
            "stats": {"processed": 2, "delivered": 5, "failed": 0, "rejected": 1,
                      "withheld": 0, "duplicates": 0, "retry_requested": 0, "retry_received": 0},
        });
        assert_eq!(
            human(&quiet),
            "Broadcast sent.\n(2 processed, 5 delivered, 0 failed, 1 rejected; 0 still waiting)\n"
        );
        let busy = json!({
            "texts": [],
            "remaining": 3,
            "stats": {"processed": 1, "delivered": 1, "failed": 0, "rejected": 0,
                      "withheld": 2, "duplicates": 1, "retry_requested": 1, "retry_received": 0},
        });
        let out = human(&busy);
        assert!(
            out.contains("(2 withheld from an admin whose safety number changed)\n"),
            "{out}"
        );
        assert!(out.contains("(1 received twice (skipped))\n"), "{out}");
        assert!(
            out.contains("(1 could not be read; the sender was asked to send again)\n"),
            "{out}"
        );
        assert!(!out.contains("sessions restarted"), "{out}");
    }
}
