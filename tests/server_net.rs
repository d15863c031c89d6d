//! `tollgate serve` facing a network (issue 11), as a real process on loopback with short limits
//! given by flags: the header, idle, request and body timeouts, the connection cap, silent
//! connections that must not stop the service, `/metrics` kept off a non-loopback listener,
//! and HTTPS with a certificate swapped while serving.

// Only the HTTP and process helpers of tests/common (the rest needs the store features).
#[allow(dead_code, unreachable_pub)]
#[path = "common/http.rs"]
mod http;
#[allow(dead_code, unreachable_pub)]
#[path = "common/serve.rs"]
mod serve;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber,
};
use tempfile::TempDir;
use tokio_rustls::rustls;

use http::{basic, get, post_form};
use serve::{Served, run_ok, tollgate};

/// A keyring with one key, a SQLite store and a credentials file in a temporary directory.
struct Setup {
    dir: TempDir,
    store: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("sqlite:{}", dir.path().join("tollgate.db").display());
        let setup = Setup { dir, store };
        run_ok(setup.cli().args(["keys", "generate"]));
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cli(&self) -> Command {
        tollgate(&self.path("keys"), &self.store)
    }

    /// Adds a caller and returns its `Authorization` header value.
    fn add_client(&self, id: &str) -> String {
        let secret = run_ok(
            self.cli()
                .args(["clients", "add", id, "--clients"])
                .arg(self.path("clients")),
        );
        basic(id, &secret)
    }

    /// `serve --listen LISTEN EXTRA…`, waiting for the address it prints (http or https).
    fn serve(&self, listen: &str, extra: &[&str]) -> Served {
        let mut cmd = self.cli();
        cmd.arg("serve")
            .arg("--listen")
            .arg(listen)
            .arg("--clients")
            .arg(self.path("clients"))
            .args(extra)
            .env("TOLLGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tollgate serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                // Logged before the address is handed over: the startup lines are all there
                // when `serve` returns.
                {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let Ok(url) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve printed no address; stderr:\n{}",
                stderr.lock().unwrap()
            );
        };
        let (_, addr) = url.split_once("://").expect("scheme://addr");
        let mut addr: SocketAddr = addr.parse().expect("bound address");
        if addr.ip().is_unspecified() {
            // Bound on every interface: reach it through loopback.
            addr.set_ip([127, 0, 0, 1].into());
        }
        let served = Served {
            child,
            addr,
            stderr,
        };
        assert!(
            url.starts_with("http://") || url.starts_with("https://"),
            "{url}"
        );
        served
    }
}

/// Reads until the peer closes (`true`) or `limit` passes without that (`false`), collecting
/// what arrived.
fn closed_within(stream: &mut TcpStream, limit: Duration, got: &mut Vec<u8>) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn issue_11_trickled_headers_are_cut_off_by_the_header_timeout() {
    let s = Setup::new();
    let served = s.serve("127.0.0.1:0", &["--header-timeout", "1s"]);
    let mut stream = TcpStream::connect(served.addr).unwrap();
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n", served.addr).as_bytes())
        .unwrap();
    // One header line every 0.5 s, for at most 10 s: the request never completes.
    let mut got = Vec::new();
    let mut closed = false;
    for i in 0..20 {
        if stream
            .write_all(format!("X-Trickle-{i}: {i}\r\n").as_bytes())
            .is_err()
        {
            closed = true;
            break;
        }
        if closed_within(&mut stream, Duration::from_millis(500), &mut got) {
            closed = true;
            break;
        }
    }
    assert!(closed, "the trickling connection was still open after 10 s");
    let answer = String::from_utf8_lossy(&got);
    assert!(
        !answer.contains(" 200 "),
        "the trickled request must not be answered: {answer:?}"
    );
    // The service itself still answers.
    assert_eq!(get(served.addr, "/healthz").status, 200);
}

#[test]
fn issue_11_an_idle_keep_alive_connection_is_closed_by_the_idle_timeout() {
    let s = Setup::new();
    // A header timeout far beyond the wait below: only the idle timeout can close it.
    let served = s.serve(
        "127.0.0.1:0",
        &["--idle-timeout", "1s", "--header-timeout", "60s"],
    );
    let mut stream = TcpStream::connect(served.addr).unwrap();
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", served.addr).as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let closed = closed_within(&mut stream, Duration::from_secs(20), &mut got);
    let answer = String::from_utf8_lossy(&got);
    assert!(
        answer.starts_with("HTTP/1.1 200 "),
        "served first: {answer:?}"
    );
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "a keep-alive answer: {answer:?}"
    );
    assert!(
        closed,
        "the idle keep-alive connection was still open after 20 s"
    );
}

/// The soft `RLIMIT_NOFILE` of this process (inherited by the server it starts).
fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    line.split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

#[test]
fn issue_11_two_thousand_silent_connections_do_not_stop_the_service_and_are_closed() {
    const SILENT: usize = 2000;
    // This process holds one end of each connection and the server (its child, inheriting
    // the limit) the other: raise the soft limit when it is too low for that.
    if open_files_limit() < (SILENT as u64 + 500) {
        let status = Command::new("prlimit")
            .arg("--pid")
            .arg(std::process::id().to_string())
            .arg(format!("--nofile={}:", SILENT + 1000))
            .status()
            .expect("prlimit");
        assert!(status.success(), "cannot raise RLIMIT_NOFILE");
    }
    assert!(open_files_limit() >= SILENT as u64 + 500);
    let s = Setup::new();
    let auth = s.add_client("resource-server");
    let token = run_ok(s.cli().args(["mint", "--sub", "alice"]));
    let served = s.serve("127.0.0.1:0", &["--header-timeout", "3s"]);
    let silent: Vec<TcpStream> = (0..SILENT)
        .map(|_| TcpStream::connect(served.addr).expect("connect a silent connection"))
        .collect();
    // While they are all open (and below --max-connections), the service answers.
    let health = get(served.addr, "/healthz");
    assert_eq!(health.status, 200, "{}", health.text());
    let answer = post_form(
        served.addr,
        "/introspect",
        Some(&auth),
        &format!("token={token}"),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["active"], true);
    // And the header timeout closes every one of them, without an answer.
    for (i, mut stream) in silent.into_iter().enumerate() {
        let mut got = Vec::new();
        assert!(
            closed_within(&mut stream, Duration::from_secs(30), &mut got),
            "silent connection {i} still open"
        );
        assert!(
            !String::from_utf8_lossy(&got).contains(" 200 "),
            "silent connection {i} got an answer"
        );
    }
}

#[test]
fn issue_11_a_connection_beyond_max_connections_waits_until_one_frees_up() {
    let s = Setup::new();
    let served = s.serve(
        "127.0.0.1:0",
        &["--max-connections", "2", "--header-timeout", "60s"],
    );
    let first = TcpStream::connect(served.addr).unwrap();
    let mut second = TcpStream::connect(served.addr).unwrap();
    // The second is accepted and served: the cap is 2.
    http::write_request(&mut second, served.addr, "GET", "/healthz", &[], b"");
    let served_second = http::read_response(&mut second);
    assert_eq!(served_second.status, 200);
    let second = TcpStream::connect(served.addr).unwrap(); // takes the freed place again
    std::thread::sleep(Duration::from_millis(200));
    // A third connects (the kernel's backlog) but is not served while two are open.
    let mut third = TcpStream::connect(served.addr).unwrap();
    http::write_request(&mut third, served.addr, "GET", "/healthz", &[], b"");
    let mut got = Vec::new();
    assert!(
        !closed_within(&mut third, Duration::from_secs(2), &mut got) && got.is_empty(),
        "served beyond --max-connections: {:?}",
        String::from_utf8_lossy(&got)
    );
    // One closes: the third is served.
    drop(first);
    let mut got = Vec::new();
    assert!(closed_within(&mut third, Duration::from_secs(20), &mut got));
    assert_eq!(http::parse(&got).status, 200);
    drop(second);
}

#[test]
fn issue_11_a_slow_body_is_answered_408_or_cut_off() {
    let s = Setup::new();
    let auth = s.add_client("resource-server");
    let slow = |served: &Served| {
        let mut stream = TcpStream::connect(served.addr).unwrap();
        http::write_request(
            &mut stream,
            served.addr,
            "POST",
            "/introspect",
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Length", "200"),
            ],
            b"token=abc",
        );
        let mut got = Vec::new();
        assert!(
            closed_within(&mut stream, Duration::from_secs(20), &mut got),
            "a body that never completes held the connection for 20 s"
        );
        http::parse(&got)
    };
    // The whole request's deadline: 408.
    let served = s.serve("127.0.0.1:0", &["--request-timeout", "1s"]);
    let answer = slow(&served);
    assert_eq!(answer.status, 408, "{}", answer.text());
    assert_eq!(
        answer.json()["error"],
        "invalid_request",
        "{}",
        answer.text()
    );
    assert!(
        answer.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("request timeout (1s)"),
        "{}",
        answer.text()
    );
    drop(served);
    // The body's own deadline: the read fails, an invalid_request.
    let served = s.serve("127.0.0.1:0", &["--body-timeout", "1s"]);
    let answer = slow(&served);
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.json()["error"], "invalid_request");
}

#[test]
fn issue_11_metrics_are_on_their_own_listener_when_the_main_one_is_not_loopback() {
    let s = Setup::new();
    // Bound on every interface (not loopback), reached here through 127.0.0.1.
    let served = s.serve("0.0.0.0:0", &["--metrics-listen", "127.0.0.1:0"]);
    let log = served.log();
    let metrics: SocketAddr = log
        .split("metrics only on http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no metrics notice in:\n{log}"))
        .parse()
        .unwrap();
    assert!(
        log.contains("TLS-terminating proxy"),
        "the plain-http notice:\n{log}"
    );
    assert_eq!(get(served.addr, "/metrics").status, 404);
    assert_eq!(get(served.addr, "/healthz").status, 200);
    let scraped = get(metrics, "/metrics");
    assert_eq!(scraped.status, 200);
    assert!(scraped.text().contains("tollgate_verifications_total"));
    assert_eq!(
        get(metrics, "/healthz").status,
        404,
        "the metrics listener serves /metrics only"
    );
    drop(served);

    // Without --metrics-listen: 404, and a notice says where metrics are.
    let served = s.serve("0.0.0.0:0", &[]);
    assert_eq!(get(served.addr, "/metrics").status, 404);
    assert!(
        served.log().contains("--metrics-listen"),
        "{}",
        served.log()
    );
    drop(served);

    // A loopback main listener keeps serving /metrics.
    let served = s.serve("127.0.0.1:0", &[]);
    assert_eq!(get(served.addr, "/metrics").status, 200);
}

/// A test CA.
fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "tollgate net test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A server certificate for localhost and 127.0.0.1 signed by `ca`: (cert PEM, key PEM, DER).
fn server_cert(
    ca: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    serial: u64,
) -> (String, String, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name.push(DnType::CommonName, name);
    params.serial_number = Some(SerialNumber::from(serial));
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// `GET /healthz` over TLS trusting `ca` only: the status and the certificate presented.
fn https_healthz(addr: SocketAddr, ca: &CertifiedIssuer<'static, KeyPair>) -> (u16, Vec<u8>) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A peer that closes without close_notify: what arrived is the answer.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("TLS read: {e}"),
        }
    }
    let presented = conn.peer_certificates().expect("a certificate")[0].to_vec();
    (http::parse(&raw).status, presented)
}

/// Replaces `path` atomically (a temporary file renamed over it).
fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn issue_11_https_serves_the_certificate_and_picks_up_a_swapped_one_without_restart() {
    let s = Setup::new();
    let authority = ca();
    let (cert_a, key_a, der_a) = server_cert(&authority, "tollgate-a", 1001);
    let (cert_b, key_b, der_b) = server_cert(&authority, "tollgate-b", 2002);
    let (cert_file, key_file) = (s.path("tls.crt"), s.path("tls.key"));
    replace(&cert_file, &cert_a);
    replace(&key_file, &key_a);
    let served = s.serve(
        "127.0.0.1:0",
        &[
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    assert!(
        served.log().contains("listening on https://"),
        "{}",
        served.log()
    );
    let (status, presented) = https_healthz(served.addr, &authority);
    assert_eq!(status, 200);
    assert_eq!(
        presented, der_a,
        "certificate A (serial 1001, CN tollgate-a)"
    );

    // Swapped while serving: new handshakes get B.
    replace(&key_file, &key_b);
    replace(&cert_file, &cert_b);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, presented) = https_healthz(served.addr, &authority);
        assert_eq!(status, 200);
        if presented == der_b {
            break;
        }
        assert_eq!(presented, der_a);
        assert!(Instant::now() < deadline, "certificate B never presented");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A broken pair (A's certificate with B's key) is refused: B stays, and the log names the
    // problem without the key.
    replace(&cert_file, &cert_a);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !served.log().contains("refused") {
        assert!(
            Instant::now() < deadline,
            "no error logged:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, presented) = https_healthz(served.addr, &authority);
    assert_eq!(status, 200);
    assert_eq!(presented, der_b, "the previous certificate stays in use");
    let log = served.log();
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    let key_body: String = key_b.lines().nth(1).unwrap().to_owned();
    assert!(!log.contains(&key_body), "key material in the log:\n{log}");
}

#[test]
fn issue_11_tls_flags_go_together_and_unusable_files_are_clear_errors() {
    let s = Setup::new();
    let serve = |extra: &[&str]| {
        s.cli()
            .args(["--json", "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    let cert = s.path("tls.crt");
    let key = s.path("tls.key");
    let (cert_pem, key_pem, _) = server_cert(&ca(), "tollgate-a", 7);
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());

    let out = serve(&["--tls-cert", cert]);
    assert_eq!(out.status.code(), Some(2), "--tls-cert alone");
    let out = serve(&["--tls-key", key]);
    assert_eq!(out.status.code(), Some(2), "--tls-key alone");

    let missing = s.path("missing.crt");
    let out = serve(&["--tls-cert", missing.to_str().unwrap(), "--tls-key", key]);
    assert_eq!(out.status.code(), Some(3));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing.crt"),
        "{error}"
    );

    // The key given as the certificate: no certificate in it, and no key material printed.
    let out = serve(&["--tls-cert", key, "--tls-key", key]);
    assert_eq!(out.status.code(), Some(3));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("bad_key"), "{printed}");
    assert!(printed.contains("no PEM certificate"), "{printed}");
    assert!(
        !printed.contains(key_pem.lines().nth(1).unwrap()),
        "{printed}"
    );
    assert!(!printed.contains("listening"), "{printed}");
}

#[test]
fn issue_11_zero_limits_are_usage_errors() {
    let s = Setup::new();
    for (flag, value) in [
        ("--header-timeout", "0"),
        ("--idle-timeout", "0"),
        ("--request-timeout", "0"),
        ("--body-timeout", "0"),
        ("--max-connections", "0"),
        ("--header-timeout", "10"),
    ] {
        let out = s
            .cli()
            .args(["--json", "serve", "--listen", "127.0.0.1:0", flag, value])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(printed.contains(flag), "{flag} {value}: {printed}");
        assert!(!printed.contains("listening"), "{printed}");
    }
}
