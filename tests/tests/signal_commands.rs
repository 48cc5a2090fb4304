//! The channel command set over real Signal, end to end: host + simulated enclave +
//! signal-sim + simulated phones + the admin CLI. The relay's unit tests cover every keyword;
//! these tests prove the wiring: what a phone sends reaches the relay through the enclave's
//! live receipt and the unlock, and what the relay answers reaches the right phones (in the
//! right language, with the channel's timer, with attachments forwarded as they are).
//!
//! Each test also checks, over everything it saw, that no admin-side output (admin phones,
//! CLI) names a subscriber's number, and that the host's store file and log hold none of the
//! numbers or message bodies used.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use sealboost_tests::signal::{bodies, otp_in, phone, AdminCli, Handset};
use sealboost_tests::{Sim, Stack, StackOpts};

const CHANNEL: &str = "+15550009000";
const WAIT: Duration = Duration::from_secs(20);
/// How long a phone listens to show that something did *not* reach it.
const QUIET: Duration = Duration::from_millis(1500);

/// One stack with a channel whose ADMIN 1 is `admin_number` (CLI and phone).
struct World {
    _tmp: tempfile::TempDir,
    sim: Sim,
    stack: Stack,
    cli: AdminCli,
    ch: String,
    /// Every CLI output (the admin's view).
    cli_seen: Vec<String>,
}

impl World {
    async fn start(admin_number: &str) -> (World, Handset) {
        let tmp = tempfile::tempdir().unwrap();
        // Rate limits are signal_recovery's subject; here they would only slow things down.
        let sim = Sim::start(&tmp.path().join("sim"), &["--rate-burst", "0"]);
        let stack = Stack::start_with(StackOpts {
            signal: Some(sim.info.clone()),
            ..Default::default()
        });
        let cli = AdminCli::new(&stack);
        let admin_phone = phone(&sim.info, admin_number).await;
        let ch = cli.channel(admin_number, CHANNEL);
        (
            World {
                _tmp: tmp,
                sim,
                stack,
                cli,
                ch,
                cli_seen: Vec::new(),
            },
            Handset::new(admin_phone).waits(WAIT, QUIET),
        )
    }

    async fn phone(&self, number: &str) -> Handset {
        Handset::register(&self.sim.info, number)
            .await
            .waits(WAIT, QUIET)
    }

    /// Waits until `n` messages are queued, then processes the mailbox as ADMIN 1.
    fn process(&mut self, n: u64) -> String {
        self.cli.wait_queued(&self.ch, n);
        let out = self.cli.ok(&["mailbox", &self.ch]);
        assert!(out.contains(&format!("{n} processed")), "{out}");
        assert!(out.contains(" 0 failed"), "{out}");
        self.cli_seen.push(out.clone());
        out
    }

    /// Runs a CLI command and records its output.
    fn cli_ok(&mut self, args: &[&str]) -> String {
        let out = self.cli.ok(args);
        self.cli_seen.push(out.clone());
        out
    }

    /// The plaintext audit: no number's digits and none of `texts` (bodies, account ids) in
    /// the host's store or log.
    fn audit(&self, numbers: &[&str], texts: &[&str]) {
        let store = std::fs::read(self.stack.dir.join("store.redb")).unwrap();
        let log = self.stack.host_log().into_bytes();
        assert!(store.len() > 1000, "store file suspiciously small");
        let needles = numbers
            .iter()
            .map(|n| n.trim_start_matches('+'))
            .chain(texts.iter().copied());
        for needle in needles {
            for (what, hay) in [("store", &store), ("host log", &log)] {
                assert!(
                    !contains(hay, needle.as_bytes()),
                    "{what} holds plaintext {needle:?}"
                );
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that none of `seen` contains any of `numbers`' digits.
fn assert_no_numbers(seen: &[String], numbers: &[&str]) {
    for n in numbers {
        let digits = n.trim_start_matches('+');
        for s in seen {
            assert!(!s.contains(digits), "subscriber number leaked: {s}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn join_help_language_and_leave_in_four_languages() {
    const ADMIN: &str = "+15550101001";
    const EN: &str = "+15550102001";
    const ES: &str = "+15550102002";
    const FR: &str = "+15550102003";
    const FR2: &str = "+15550102004";
    const DE: &str = "+15550102005";
    let (mut w, mut admin_phone) = World::start(ADMIN).await;
    let ch = w.ch.clone();
    let mut en = w.phone(EN).await;
    let mut es = w.phone(ES).await;
    let mut fr = w.phone(FR).await;
    let mut fr2 = w.phone(FR2).await;
    let mut de = w.phone(DE).await;

    // JOIN in each language: the welcome comes in the language of the keyword.
    en.p.send_text(CHANNEL, "HELLO").await.unwrap();
    es.p.send_text(CHANNEL, "hola").await.unwrap();
    fr.p.send_text(CHANNEL, "Salut").await.unwrap();
    fr2.p.send_text(CHANNEL, "BONJOUR").await.unwrap();
    de.p.send_text(CHANNEL, "HALLO").await.unwrap();
    w.process(5);
    en.expect("Welcome! You are subscribed").await;
    es.expect("¡Bienvenida/o! Te suscribiste").await;
    fr.expect("Bienvenue ! Vous êtes abonné·e").await;
    fr2.expect("Bienvenue ! Vous êtes abonné·e").await;
    de.expect("Willkommen! Du hast diesen Kanal abonniert")
        .await;

    // HELP in the member's language, whichever language's keyword is used.
    en.p.send_text(CHANNEL, "HELP").await.unwrap();
    es.p.send_text(CHANNEL, "HELP").await.unwrap();
    fr.p.send_text(CHANNEL, "AIDE").await.unwrap();
    de.p.send_text(CHANNEL, "hilfe").await.unwrap();
    fr2.p.send_text(CHANNEL, "AYUDA").await.unwrap();
    w.process(5);
    en.expect("Commands:\nHELLO: subscribe").await;
    es.expect("Comandos:\nHOLA: suscribirte").await;
    fr.expect("Commandes :\nBONJOUR : s'abonner").await;
    de.expect("Befehle:\nHALLO: abonnieren").await;
    fr2.expect("Commandes :\nBONJOUR : s'abonner").await;

    // Switching language changes later replies.
    en.p.send_text(CHANNEL, "ESPAÑOL").await.unwrap();
    de.p.send_text(CHANNEL, "Français").await.unwrap();
    w.process(2);
    en.expect("A partir de ahora te hablaré en español.").await;
    de.expect("Je vous parlerai désormais en français.").await;
    en.p.send_text(CHANNEL, "HELP").await.unwrap();
    de.p.send_text(CHANNEL, "INFO").await.unwrap();
    w.process(2);
    en.expect("Comandos:\nHOLA: suscribirte").await;
    de.expect("Vous êtes abonné·e.\nHotline : activée").await;

    // LEAVE keywords unsubscribe, answered in the member's language.
    es.p.send_text(CHANNEL, "ADIÓS").await.unwrap();
    fr2.p.send_text(CHANNEL, "aurevoir").await.unwrap();
    de.p.send_text(CHANNEL, "TSCHÜSS").await.unwrap();
    w.process(3);
    es.expect("Saliste de este canal. ¡Adiós!").await;
    fr2.expect("Vous avez quitté cette chaîne. Au revoir !")
        .await;
    // DE switched to French above.
    de.expect("Vous avez quitté cette chaîne. Au revoir !")
        .await;
    let info = w.cli_ok(&["channel", "info", &ch, "--json"]);
    let v: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    assert_eq!(v["subscribers"], 2, "{v}");

    // A broadcast reaches the two who stayed and none of those who left.
    let out = w.cli_ok(&["broadcast", &ch, "Quokka", "picnic", "postponed"]);
    assert!(
        out.contains("Broadcast sent to 2 subscribers and 0 other admins."),
        "{out}"
    );
    assert_eq!(en.expect("Quokka").await, "Quokka picnic postponed");
    assert_eq!(fr.expect("Quokka").await, "Quokka picnic postponed");
    for p in [&mut es, &mut fr2, &mut de] {
        let got = bodies(&p.quiet().await);
        assert!(got.is_empty(), "{got:?}");
    }
    // Nothing the admin's phone or the CLI saw names a subscriber.
    admin_phone.quiet().await;
    let mut admin_seen = admin_phone.all.clone();
    admin_seen.extend(w.cli_seen.iter().cloned());
    assert_no_numbers(&admin_seen, &[EN, ES, FR, FR2, DE]);
    // Nor any of their Signal accounts' ids (ACIs): libsignal logs protocol addresses, and
    // the enclave's log reaches the host.
    let acis: Vec<String> = [&admin_phone, &en, &es, &fr, &fr2, &de]
        .iter()
        .map(|h| h.p.aci().service_id_string())
        .collect();
    let mut secrets: Vec<&str> = acis.iter().map(String::as_str).collect();
    secrets.push("Quokka picnic postponed");
    w.audit(&[ADMIN, EN, ES, FR, FR2, DE, CHANNEL], &secrets);
}

#[tokio::test(flavor = "current_thread")]
async fn admin_commands_over_signal() {
    const A1: &str = "+15550201001";
    const A2: &str = "+15550201002";
    const A3: &str = "+15550201003";
    const S1: &str = "+15550202001";
    const S2: &str = "+15550202002";
    const S3: &str = "+15550202003";
    const OUT: &str = "+15550202009";
    const STRANGER: &str = "+15550202008";
    let (mut w, mut a1) = World::start(A1).await;
    let ch = w.ch.clone();
    let mut a2 = w.phone(A2).await;
    let mut a3 = w.phone(A3).await;
    let mut s1 = w.phone(S1).await;
    let mut s2 = w.phone(S2).await;
    let mut s3 = w.phone(S3).await;
    let mut outsider = w.phone(OUT).await;
    let mut stranger = w.phone(STRANGER).await;

    // Subscribers join; ADMIN 1 adds two admins from their phone.
    for p in [&mut s1, &mut s2, &mut s3] {
        p.p.send_text(CHANNEL, "HELLO").await.unwrap();
    }
    a1.p.send_text(CHANNEL, "ADD +1 555 020 1002")
        .await
        .unwrap();
    a1.p.send_text(CHANNEL, "ADD +15550201003").await.unwrap();
    w.process(5);
    for p in [&mut s1, &mut s2, &mut s3] {
        p.expect("Welcome!").await;
    }
    // Admins hold SK: each ADD sends a one-time passphrase from the channel's number, and
    // the invitee's own sealboost client redeems it.
    a1.expect("A one-time passphrase is on its way").await;
    a1.expect("A one-time passphrase is on its way").await;
    for (p, number, n) in [(&mut a2, A2, 2), (&mut a3, A3, 3)] {
        let invite = p.expect("one-time passphrase").await;
        let otp = otp_in(&invite).unwrap();
        let v = AdminCli::new(&w.stack).accept(&ch, &otp, number);
        assert_eq!(v["admin_index"], n, "{v}");
    }

    // `!` broadcast, `~` private, and an admin's plain text.
    a1.p.send_text(CHANNEL, "! Narwhal parade at dawn")
        .await
        .unwrap();
    a1.p.send_text(CHANNEL, "~ admins: bring the okapi")
        .await
        .unwrap();
    a1.p.send_text(CHANNEL, "what time is it").await.unwrap();
    w.process(3);
    for p in [&mut s1, &mut s2, &mut s3] {
        assert_eq!(p.expect("Narwhal").await, "Narwhal parade at dawn");
    }
    for p in [&mut a2, &mut a3] {
        assert_eq!(
            p.expect("Narwhal").await,
            "[BROADCAST FROM ADMIN 1]\nNarwhal parade at dawn"
        );
        assert_eq!(
            p.expect("okapi").await,
            "[PRIVATE FROM ADMIN 1]\nadmins: bring the okapi"
        );
    }
    a1.expect("Broadcast sent to 3 subscribers and 2 other admins.")
        .await;
    a1.expect("Private message sent to 2 other admins.").await;
    a1.expect("Did you mean to broadcast?").await;

    // Hotline, and REPLY @id from another admin's phone.
    s1.p.send_text(CHANNEL, "Is the parade accessible?")
        .await
        .unwrap();
    let out = w.process(1);
    assert!(out.contains("Is the parade accessible?"), "{out}");
    s1.expect("Your message went to the channel's admins.")
        .await;
    let b = a2.expect("Is the parade accessible?").await;
    let id: u32 = b
        .strip_prefix("[HOTLINE FROM @")
        .and_then(|r| r.split(']').next())
        .unwrap()
        .parse()
        .unwrap();
    a1.expect("Is the parade accessible?").await;
    a2.p.send_text(CHANNEL, &format!("@{id} Yes, ramps everywhere"))
        .await
        .unwrap();
    w.process(1);
    assert_eq!(
        s1.expect("ramps").await,
        "[REPLY FROM THE ADMINS]\nYes, ramps everywhere"
    );
    a2.expect(&format!("Reply sent to @{id}.")).await;
    for p in [&mut a1, &mut a3] {
        assert_eq!(
            p.expect("ramps").await,
            format!("[REPLY TO @{id} FROM ADMIN 2]\nYes, ramps everywhere")
        );
    }
    for p in [&mut s2, &mut s3] {
        let got = bodies(&p.quiet().await);
        assert!(got.is_empty(), "{got:?}");
    }

    // BAN @id: the banned sender is told once and nothing they send is answered.
    a1.p.send_text(CHANNEL, &format!("BAN @{id}"))
        .await
        .unwrap();
    w.process(1);
    s1.expect("An admin has blocked your messages").await;
    a1.expect(&format!("@{id} is banned")).await;
    a2.expect(&format!("ADMIN 1 banned @{id}.")).await;
    s1.p.send_text(CHANNEL, "HELLO").await.unwrap();
    s1.p.send_text(CHANNEL, "let me back").await.unwrap();
    let out = w.process(2);
    assert!(!out.contains("let me back"), "{out}");
    let got = bodies(&s1.quiet().await);
    assert!(got.is_empty(), "{got:?}");

    // HOTLINE OFF: a subscriber's text gets a polite refusal and reaches no admin.
    a1.p.send_text(CHANNEL, "HOTLINE OFF").await.unwrap();
    w.cli.wait_queued(&ch, 1);
    s2.p.send_text(CHANNEL, "Secret wombat question")
        .await
        .unwrap();
    let out = w.process(2);
    assert!(!out.contains("wombat"), "{out}");
    s2.expect("Sorry, this channel does not take incoming messages.")
        .await;
    a1.expect("Done: the hotline off.").await;
    a3.expect("ADMIN 1 changed a setting: the hotline off.")
        .await;

    // VOUCHING ON, INVITE (answered alike for a non-member and a member), ACCEPT.
    a1.p.send_text(CHANNEL, "VOUCHING ON").await.unwrap();
    a1.p.send_text(CHANNEL, &format!("INVITE {OUT}"))
        .await
        .unwrap();
    a1.p.send_text(CHANNEL, &format!("INVITE {S3}"))
        .await
        .unwrap();
    w.process(3);
    a1.expect("Done: vouching: on.").await;
    a1.expect("Invite issued.").await;
    a1.expect("Invite issued.").await;
    a2.expect("ADMIN 1 changed a setting: vouching: on.").await;
    outsider
        .expect("You have been invited to a Signal channel (1 of 1 invites needed).")
        .await;
    let got = bodies(&s3.quiet().await);
    assert!(got.is_empty(), "a member was told of an invite: {got:?}");
    // Without an invite, HELLO is not enough any more; with one, ACCEPT joins.
    stranger.p.send_text(CHANNEL, "HELLO").await.unwrap();
    outsider.p.send_text(CHANNEL, "ACCEPT").await.unwrap();
    w.process(2);
    stranger
        .expect("This channel requires an invite: 1 needed, you have 0.")
        .await;
    outsider.expect("Welcome! You are subscribed").await;
    outsider.expect_timer(7 * 24 * 3600).await;
    let info = w.cli_ok(&["channel", "info", &ch, "--json"]);
    let v: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    assert_eq!(v["subscribers"], 3, "{v}");

    // DESTROY explains; CONFIRM DESTROY tells everyone and the channel is gone.
    a1.p.send_text(CHANNEL, "DESTROY").await.unwrap();
    w.process(1);
    a1.expect("To go ahead, send CONFIRM DESTROY.").await;
    a1.p.send_text(CHANNEL, "CONFIRM DESTROY").await.unwrap();
    w.cli.wait_queued(&ch, 1);
    let out = w.cli_ok(&["mailbox", &ch, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["destroyed"], true, "{v}");
    const GONE: &str = "This channel has been shut down by its admins";
    for p in [&mut s2, &mut s3, &mut outsider, &mut a1, &mut a2, &mut a3] {
        p.expect(GONE).await;
    }
    let got = bodies(&s1.quiet().await);
    assert!(
        got.is_empty(),
        "banned sender told about the channel: {got:?}"
    );
    let (code, stdout, stderr) = w.cli.run(&["mailbox", &ch, "--json"]);
    assert_ne!(code, 0, "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["error"], "unauthorized", "{v}");

    // The admins never saw a subscriber's number, and the host never saw anything in clear.
    let mut seen = w.cli_seen.clone();
    for p in [&mut a1, &mut a2, &mut a3] {
        p.quiet().await;
        seen.extend(p.all.iter().cloned());
    }
    assert!(seen.len() > 30, "{seen:?}");
    assert_no_numbers(&seen, &[S1, S2, S3, OUT, STRANGER]);
    w.audit(
        &[A1, A2, A3, S1, S2, S3, OUT, STRANGER, CHANNEL],
        &[
            "Narwhal parade",
            "bring the okapi",
            "Is the parade accessible?",
            "ramps everywhere",
            "Secret wombat question",
            "let me back",
        ],
    );
}

#[tokio::test(flavor = "current_thread")]
async fn disappearing_timer_and_forwarded_attachment() {
    const ADMIN: &str = "+15550301001";
    const S1: &str = "+15550302001";
    const S2: &str = "+15550302002";
    const WEEK: u32 = 7 * 24 * 3600;
    let (mut w, mut admin_phone) = World::start(ADMIN).await;
    let mut s1 = w.phone(S1).await;
    let mut s2 = w.phone(S2).await;

    // New members get a timer update to one week, and the welcome carries it.
    s1.p.send_text(CHANNEL, "HELLO").await.unwrap();
    s2.p.send_text(CHANNEL, "HELLO").await.unwrap();
    w.process(2);
    for p in [&mut s1, &mut s2] {
        p.expect_timer(WEEK).await;
        let welcome = p
            .take("welcome", |m| {
                m.body.as_deref().is_some_and(|b| b.starts_with("Welcome!"))
            })
            .await;
        assert_eq!(welcome.expire_timer, Some(WEEK));
    }

    // A subscriber shortening the timer gets it set back, and told why.
    s1.p.set_timer(CHANNEL, 60).await.unwrap();
    w.process(1);
    s1.expect_timer(WEEK).await;
    s1.expect("Only admins can change the disappearing-message timer; it stays at 1 week.")
        .await;
    let got = bodies(&s2.quiet().await);
    assert!(got.is_empty(), "{got:?}");

    // The admin's phone broadcasts an attachment. The pointer is forwarded as is: the
    // subscribers get the very CDN object the admin uploaded (same key, same digest), so the
    // enclave never uploaded (or re-encrypted) anything itself.
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let uploaded = admin_phone
        .p
        .client
        .upload_attachment(&data, "image/jpeg", Some("capybara.jpg"))
        .await
        .unwrap();
    assert!(uploaded.cdn_key.is_some());
    admin_phone
        .p
        .send_data(
            CHANNEL,
            signal_api::DataMessage {
                body: Some("! Capybara census photo".into()),
                attachments: vec![uploaded.clone()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A second one through Phone::send_attachment, the app's usual path.
    admin_phone
        .p
        .send_attachment(
            CHANNEL,
            Some("!Tapir sketch"),
            b"tapir sketch bytes",
            "text/plain",
            None,
        )
        .await
        .unwrap();
    w.process(2);
    for p in [&mut s1, &mut s2] {
        let photo = p
            .take("photo", |m| {
                m.body.as_deref() == Some("Capybara census photo")
            })
            .await;
        assert_eq!(photo.attachments.len(), 1);
        let ptr = &photo.attachments[0];
        assert_eq!(ptr.cdn_key, uploaded.cdn_key);
        assert_eq!(ptr.key, uploaded.key);
        assert_eq!(ptr.digest, uploaded.digest);
        assert_eq!(ptr.file_name.as_deref(), Some("capybara.jpg"));
        assert_eq!(photo.expire_timer, Some(WEEK));
        let bytes = p.p.download(ptr).await.unwrap();
        assert_eq!(bytes.as_slice(), data.as_slice());
        let sketch = p
            .take("sketch", |m| m.body.as_deref() == Some("Tapir sketch"))
            .await;
        assert_eq!(sketch.attachments.len(), 1);
        let bytes = p.p.download(&sketch.attachments[0]).await.unwrap();
        assert_eq!(bytes.as_slice(), b"tapir sketch bytes");
    }
    admin_phone
        .expect("Broadcast sent to 2 subscribers and 0 other admins.")
        .await;
    admin_phone
        .expect("Broadcast sent to 2 subscribers and 0 other admins.")
        .await;
    admin_phone.quiet().await;
    let mut seen = admin_phone.all.clone();
    seen.extend(w.cli_seen.iter().cloned());
    assert_no_numbers(&seen, &[S1, S2]);
    w.audit(
        &[ADMIN, S1, S2, CHANNEL],
        &["Capybara census", "Tapir sketch", "capybara.jpg"],
    );
}
