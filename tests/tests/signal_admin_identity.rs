//! An admin's reinstalled phone (new identity key, new safety number) on the *send* path,
//! end to end against signal-sim: the channel writes to the admin before the admin writes
//! anything. Nothing meant for the admin may be encrypted to the new key: the enclave's
//! protocol store refuses it, the admin is deauthorized, the other admins are told, and
//! nothing else of that unlock goes to them. After another admin re-ADDs them, they get
//! admin traffic again. A reinstalled subscriber is still trusted (COURIER.md §3.1).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use libsignal_protocol::{Aci, Fingerprint, IdentityKey};
use sealboost_tests::signal::{bodies, otp_in, AdminCli, Handset, World};

const CHANNEL: &str = "+15550019000";
/// Generous: a slow machine runs several unlocks' worth of sends in this time.
const WAIT: Duration = Duration::from_secs(45);
/// How long a "nothing arrived" check listens (after everything else was waited for).
const QUIET: Duration = Duration::from_secs(3);

/// A registered phone with this file's waits.
async fn handset(w: &World, number: &str) -> Handset {
    Handset::register(&w.sim.info, number)
        .await
        .waits(WAIT, QUIET)
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).unwrap()
}

/// A channel with ADMIN 1 (`a1`), ADMIN 2 (`a2`, added over Signal and accepted) and two
/// subscribers.
async fn channel_with_two_admins(
    a1: &str,
    a2: &str,
    s1: &str,
    s2: &str,
) -> (World, Handset, Handset, Handset, Handset) {
    let (w, p) = World::start(a1, CHANNEL, &["--rate-burst", "0"]).await;
    let mut a1 = Handset::new(p).waits(WAIT, QUIET);
    let mut a2_phone = handset(&w, a2).await;
    let mut s1_phone = handset(&w, s1).await;
    let mut s2_phone = handset(&w, s2).await;
    s1_phone.p.send_text(CHANNEL, "HELLO").await.unwrap();
    s2_phone.p.send_text(CHANNEL, "HELLO").await.unwrap();
    a1.p.send_text(CHANNEL, &format!("ADD {a2}")).await.unwrap();
    w.process(3);
    s1_phone.expect("Welcome!").await;
    s2_phone.expect("Welcome!").await;
    let invite = a2_phone.expect("one-time passphrase").await;
    let v = AdminCli::new(&w.stack).accept(&w.ch, &otp_in(&invite).unwrap(), a2);
    assert_eq!(v["admin_index"], 2, "{v}");
    (w, a1, a2_phone, s1_phone, s2_phone)
}

#[tokio::test(flavor = "current_thread")]
async fn reinstalled_admin_gets_nothing_on_the_send_path_until_re_added() {
    const A1: &str = "+15550701001";
    const A2: &str = "+15550701002";
    const S1: &str = "+15550702001";
    const S2: &str = "+15550702002";
    let (w, mut a1, mut a2, mut s1, mut s2) = channel_with_two_admins(A1, A2, S1, S2).await;
    // The channel holds sessions with every phone's first install.
    w.cli.ok(&["broadcast", &w.ch, "Before", "reinstall"]);
    s1.expect("Before reinstall").await;
    s2.expect("Before reinstall").await;
    assert_eq!(
        a2.expect("Before reinstall").await,
        "[BROADCAST FROM ADMIN 1]\nBefore reinstall"
    );

    // ADMIN 2 and subscriber S2 reinstall (same number and ACI, new identity key). ADMIN 2
    // writes nothing.
    drop(a2);
    drop(s2);
    let mut a2 = handset(&w, A2).await;
    let mut s2 = handset(&w, S2).await;

    // One unlock holds a hotline message and ADMIN 1's broadcast and PRIVATE, all of which
    // address ADMIN 2 as an admin.
    s1.p.send_text(CHANNEL, "Pangolin sighting at the old mill")
        .await
        .unwrap();
    a1.p.send_text(CHANNEL, "! Storm warning tonight")
        .await
        .unwrap();
    a1.p.send_text(CHANNEL, "~ Admins: meet at noon")
        .await
        .unwrap();
    let v = w.process(3);
    // The first send to ADMIN 2 is refused before anything is encrypted; the rest of the
    // unlock skips them.
    assert_eq!(v["stats"]["withheld"], 1, "{v}");
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    let texts = v["texts"].to_string();
    assert!(texts.contains("ADMIN 2's safety number changed"), "{v}");

    a1.expect("Pangolin sighting at the old mill").await;
    a1.expect("ADMIN 2's safety number changed").await;
    a1.expect("Broadcast sent to 2 subscribers and 1 other admins.")
        .await;
    s1.expect("Your message went to the channel's admins.")
        .await;
    assert_eq!(
        s1.expect("Storm warning").await,
        "Storm warning tonight",
        "subscribers get the bare broadcast"
    );
    // The reinstalled subscriber's new identity is trusted and the broadcast re-sent.
    assert_eq!(s2.expect("Storm warning").await, "Storm warning tonight");
    let got = a2.quiet().await;
    assert!(
        got.is_empty(),
        "the reinstalled admin's phone received {:?}",
        bodies(&got)
    );
    // A subscriber's change tells the admins nothing.
    let got = bodies(&a1.quiet().await);
    assert!(!got.iter().any(|t| t.contains("safety number")), "{got:?}");

    // ADMIN 2 no longer counts as an admin, and the enclave will not act as them. (The key
    // the service served for them, which the send refused, is now the one on record: the
    // re-ADD trusts exactly it.)
    let v = json(&w.cli.ok(&["private", &w.ch, "Anyone", "there?", "--json"]));
    let texts = v["texts"].to_string();
    assert!(
        texts.contains("Private message sent to 0 other admins."),
        "{v}"
    );
    let (code, out, err) = w.cli.run(&["broadcast", &w.ch, "x", "--as", A2, "--json"]);
    assert_ne!(code, 0, "{out}{err}");

    // ADMIN 1 re-ADDs them over Signal: they are ADMIN 2 again and get admin copies.
    a1.p.send_text(CHANNEL, &format!("ADD {A2}")).await.unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["withheld"], 0, "{v}");
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    a2.expect("You are now ADMIN 2 of this channel.").await;
    a1.expect("You added ADMIN 2.").await;
    a1.p.send_text(CHANNEL, "! All clear").await.unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["withheld"], 0, "{v}");
    assert_eq!(
        a2.expect("All clear").await,
        "[BROADCAST FROM ADMIN 1]\nAll clear"
    );
    a1.expect("Broadcast sent to 2 subscribers and 1 other admins.")
        .await;
    for s in [&mut s1, &mut s2] {
        assert_eq!(s.expect("All clear").await, "All clear");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn admin_deauthorized_mid_batch_gets_nothing_meant_for_admins() {
    const A1: &str = "+15550711001";
    const A2: &str = "+15550711002";
    const S1: &str = "+15550712001";
    const S2: &str = "+15550712002";
    let (w, mut a1, a2, mut s1, _s2) = channel_with_two_admins(A1, A2, S1, S2).await;
    drop(a2);
    let mut a2 = handset(&w, A2).await;

    // In one batch: first a hotline message (for both admins, ADMIN 2 still authorized when
    // it is handled), then the reinstalled ADMIN 2's own message, which deauthorizes them.
    s1.p.send_text(CHANNEL, "Badger report from the ridge")
        .await
        .unwrap();
    w.cli.wait_queued(&w.ch, 1);
    a2.p.send_text(CHANNEL, "Hello from my new phone")
        .await
        .unwrap();
    let v = w.process(2);
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    let texts = v["texts"].to_string();
    assert!(texts.contains("ADMIN 2's safety number changed"), "{v}");

    a1.expect("Badger report from the ridge").await;
    a1.expect("ADMIN 2's safety number changed").await;
    // Deauthorized, their own text is a hotline message like a subscriber's, and so is the
    // answer they get.
    a1.expect("Hello from my new phone").await;
    a2.expect("Your message went to the channel's admins.")
        .await;
    let got = bodies(&a2.quiet().await);
    assert!(
        !got.iter().any(|t| t.contains("Badger")),
        "a hotline message handled while they were an admin reached the new phone: {got:?}"
    );
    assert!(got.is_empty(), "{got:?}");
}

/// The safety number between `local` and `remote` as the Signal apps compute it (libsignal's
/// `Fingerprint`, version 2 over the ACIs' UUID bytes, 5200 iterations), in twelve groups
/// of five digits.
fn safety_number(local: (&Aci, &IdentityKey), remote: (&Aci, &IdentityKey)) -> String {
    let fp = Fingerprint::new(
        2,
        5200,
        &local.0.service_id_binary(),
        local.1,
        &remote.0.service_id_binary(),
        remote.1,
    )
    .unwrap();
    let digits = fp.display_string().unwrap();
    assert_eq!(digits.len(), 60);
    digits
        .as_bytes()
        .chunks(5)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The phone's own identity key.
fn own_key(h: &Handset) -> IdentityKey {
    *h.p.client.account.store.identity_key_pair().identity_key()
}

#[tokio::test(flavor = "current_thread")]
async fn a_re_add_pins_the_observed_key_and_a_third_key_deauthorizes_again() {
    const A1: &str = "+15550721001";
    const A2: &str = "+15550721002";
    const S1: &str = "+15550722001";
    const S2: &str = "+15550722002";
    let (w, mut a1, a2, _s1, _s2) = channel_with_two_admins(A1, A2, S1, S2).await;
    let a2_aci = a2.p.aci();
    drop(a2);

    // ADMIN 2 reinstalls and writes: deauthorized, and ADMIN 1 is shown the safety number of
    // exactly the key that message came with.
    let mut a2 = handset(&w, A2).await;
    a2.p.send_text(CHANNEL, "Hello from my new phone")
        .await
        .unwrap();
    w.process(1);
    let channel = Box::pin(a2.p.client.lookup(CHANNEL))
        .await
        .unwrap()
        .unwrap();
    let channel_key = a2.p.client.account.store.identity(&channel).unwrap();
    let second = safety_number((&channel, &channel_key), (&a2_aci, &own_key(&a2)));
    // The admin's app, computing it from its side, shows the same digits.
    assert_eq!(
        safety_number((&a2_aci, &own_key(&a2)), (&channel, &channel_key)),
        second
    );
    let notice = a1.expect("ADMIN 2's safety number changed").await;
    assert!(notice.ends_with(&format!("\n{second}")), "{notice}");

    // ADMIN 1 compares it with ADMIN 2 and re-ADDs them: the confirmation shows it again.
    a1.p.send_text(CHANNEL, &format!("ADD {A2}")).await.unwrap();
    w.process(1);
    a2.expect("You are now ADMIN 2 of this channel.").await;
    let confirmation = a1.expect("ADMIN 2 is an admin again").await;
    assert!(
        confirmation.ends_with(&format!("\n{second}")),
        "{confirmation}"
    );
    a1.p.send_text(CHANNEL, "! Welcome back").await.unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["withheld"], 0, "{v}");
    assert_eq!(
        a2.expect("Welcome back").await,
        "[BROADCAST FROM ADMIN 1]\nWelcome back"
    );

    // A third key (another reinstall) is another change: the channel writes first, the
    // pinned key refuses it, ADMIN 2 is deauthorized again and ADMIN 1 sees its number.
    drop(a2);
    let mut a2 = handset(&w, A2).await;
    let third = safety_number((&channel, &channel_key), (&a2_aci, &own_key(&a2)));
    assert_ne!(third, second);
    a1.p.send_text(CHANNEL, "! Storm tonight").await.unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["withheld"], 1, "{v}");
    let notice = a1.expect("ADMIN 2's safety number changed").await;
    assert!(notice.ends_with(&format!("\n{third}")), "{notice}");
    let got = bodies(&a2.quiet().await);
    assert!(got.is_empty(), "the third key got {got:?}");
    let v = json(&w.cli.ok(&["private", &w.ch, "Anyone", "there?", "--json"]));
    assert!(
        v["texts"]
            .to_string()
            .contains("Private message sent to 0 other admins."),
        "{v}"
    );
}
