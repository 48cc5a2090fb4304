//! Issue 2 end to end: the real host launches the real simulated enclave; everything
//! below talks to them over real sockets.

// Test code: a failed step should stop the test loudly, and lengths are small constants.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use sealboost_tests::{http_get, tls, Stack, StackOpts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire::hello::{EgressTarget, HelloStatus, Stream};
use wire::link::{self, LinkError};

async fn https_get(stack: &Stack, path: &str) -> (String, Option<rustls::NamedGroup>) {
    let tcp = tokio::net::TcpStream::connect(stack.ingress).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("sealboost-enclave").unwrap();
    let mut s = tls::insecure_connector().connect(name, tcp).await.unwrap();
    let group = s
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .map(|g| g.name());
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    (out, group)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_terminates_in_the_enclave_through_the_relay() {
    let stack = Stack::start();
    let (status, body) = http_get(stack.health, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"enclave\":\"ready\""), "{body}");
    assert!(body.contains("\"platform\":\"simulated\""), "{body}");

    let (resp, group) = https_get(&stack, "/v1/health").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"status\":\"ready\""), "{resp}");
    // DESIGN §3: the attested channel is post-quantum.
    assert_eq!(group, Some(rustls::NamedGroup::X25519MLKEM768));

    let (resp, _) = https_get(&stack, "/nope").await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert!(resp.ends_with("{\"error\":\"not_found\"}"), "{resp}");

    // Many concurrent sessions through the relay.
    let stack = std::sync::Arc::new(stack);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let stack = stack.clone();
        set.spawn(async move { https_get(&stack, "/v1/health").await.0 });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().starts_with("HTTP/1.1 200"));
    }
    assert_eq!(stack.metric("ingress_accepted"), 66);
    assert_eq!(stack.metric("ingress_link_failed"), 0);
}

#[test]
fn metrics_and_health_say_nothing_about_users() {
    let stack = Stack::start();
    let (_, metrics) = http_get(stack.health, "/metrics").unwrap();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        // `name value` only: no labels that could carry a channel, address or blob name.
        let parts: Vec<_> = line.split(' ').collect();
        assert_eq!(parts.len(), 2, "{line}");
        assert!(!parts[0].contains('{'), "{line}");
        assert!(parts[1].parse::<u64>().is_ok(), "{line}");
    }
}

#[test]
fn simulated_enclave_runs_without_network_interfaces() {
    if !host::launcher::netns_available() {
        eprintln!(
            "SKIPPED: this kernel refuses `unshare --net`; the enclave shares the host network"
        );
        return;
    }
    let stack = Stack::start();
    let pids = stack.enclave_pids();
    assert_eq!(pids.len(), 1, "exactly one enclave process: {pids:?}");
    let dev = std::fs::read_to_string(format!("/proc/{}/net/dev", pids[0])).unwrap();
    let ifaces: Vec<_> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "enclave sees interfaces {ifaces:?}");
    // And no IPv4 routes at all (`lo` is down in a fresh namespace): nothing to reach.
    let routes = std::fs::read_to_string(format!("/proc/{}/net/route", pids[0])).unwrap();
    assert_eq!(
        routes.lines().skip(1).count(),
        0,
        "enclave has routes: {routes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_is_deny_by_default_and_never_logs_payload() {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let stack = Stack::start_with(StackOpts {
        egress_allow: vec![allowed.to_string()],
        no_enclave: true,
        ..Default::default()
    });

    // Allowed: bytes flow both ways.
    let mut s = link::connect(&stack.host_link()).await.unwrap();
    let target = EgressTarget::parse(&allowed.to_string()).unwrap();
    link::hello(&mut s, Stream::Egress(target)).await.unwrap();
    s.write_all(b"ping through egress").await.unwrap();
    let mut buf = [0u8; 19];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping through egress");

    // Not on the list (a different port on the same host): refused, payload never read.
    let mut s = link::connect(&stack.host_link()).await.unwrap();
    let denied = EgressTarget::new("127.0.0.1", allowed.port().wrapping_add(1).max(1)).unwrap();
    let marker = b"SECRET-PAYLOAD-MARKER-7731";
    let hello = link::hello(&mut s, Stream::Egress(denied.clone()));
    assert!(matches!(
        hello.await,
        Err(LinkError::Refused(HelloStatus::Denied))
    ));
    let _ = s.write_all(marker).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert_eq!(stack.metric("egress_denied"), 1);
    assert_eq!(stack.metric("egress_allowed"), 1);
    let log = stack.host_log();
    assert!(log.contains("egress denied"), "{log}");
    assert!(log.contains(&denied.to_string()), "{log}");
    assert!(!log.contains("SECRET-PAYLOAD-MARKER"), "{log}");
}

#[test]
fn connection_limit_refuses_the_excess() {
    let stack = Stack::start_with(StackOpts {
        max_connections: Some(2),
        ..Default::default()
    });
    use std::io::Read;
    let a = std::net::TcpStream::connect(stack.ingress).unwrap();
    let b = std::net::TcpStream::connect(stack.ingress).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut c = std::net::TcpStream::connect(stack.ingress).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        c.read(&mut buf).unwrap(),
        0,
        "the third connection is closed at once"
    );
    assert_eq!(stack.metric("ingress_refused_busy"), 1);
    drop((a, b));
}

#[test]
fn sigterm_shuts_down_host_and_enclave() {
    let mut stack = Stack::start();
    let pids = stack.enclave_pids();
    assert_eq!(pids.len(), 1);
    let status = stack.stop();
    assert!(status.success(), "host exit status {status:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pids[0])).exists()
            || std::fs::read_to_string(format!("/proc/{}/status", pids[0]))
                .is_ok_and(|s| s.contains("State:\tZ")),
        "enclave still running after host shutdown"
    );
}
