//! The release flow of the deploy tooling, end to end. A policy made and signed by
//! `deploy` for this enclave build is accepted by a client pinned to it; one made for a
//! different build is refused before any secret is sent.

// Test code: a failed step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use attestation::{SignedPolicy, UnixTime};
use client_verify::session::{AttestedSession, SessionError};
use sealboost_tests::{bin, Stack};

fn signed_policy_for(stack: &Stack, exe: &std::path::Path) -> attestation::Policy {
    let key = deploy::generate_release_key();
    let file = deploy::simulated_policy_draft(&stack.dir.join("ca"), exe, 300, Some("ci"))
        .unwrap()
        .sign_allowing_simulated(&key)
        .unwrap();
    SignedPolicy::parse(&file)
        .unwrap()
        .verify(&key.verifying_key())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_policy_for_this_build_is_accepted_and_for_another_is_refused() {
    let stack = Stack::start();
    let this_build = signed_policy_for(&stack, &bin("sealboost-enclave"));
    let s = AttestedSession::connect_with(
        stack.ingress,
        &this_build,
        UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap();
    assert_eq!(s.claims().platform, attestation::Platform::Simulated);

    // "Another build": the PCRs of a different executable.
    let other_build = signed_policy_for(&stack, &bin("sealboost-host"));
    let err = AttestedSession::connect_with(
        stack.ingress,
        &other_build,
        UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Attestation(attestation::Error::PcrMismatch { index: 0 })
        ),
        "{err:?}"
    );
}
