//! Real PostgreSQL servers for tests, in the way of `redis.rs`: `initdb` into a private
//! directory, `pg_ctl start` on a free loopback port with trust authentication for the user
//! `tollgate`, and `pg_ctl stop -m immediate` plus removal of the directory when dropped.
//!
//! The binaries come from `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package;
//! they are not on PATH), or `TOLLGATE_PG_BIN`. As root (CI), `initdb` and `pg_ctl` run as the
//! `postgres` user through `runuser`, in a directory that user owns. The machine's own cluster
//! (port 5432) is never touched.
//!
//! Tests share one server per test binary ([`PgServer::shared`]), each in its own database
//! ([`PgServer::database`]); a test that stops its server starts its own. A static is never
//! dropped, so every server also has a reaper: a detached shell that waits for the test process
//! to exit, then stops the server and removes its directory, even after a panic or a kill.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tempfile::TempDir;

/// The superuser the tests connect as (trust authentication, loopback only).
pub const USER: &str = "tollgate";

/// Its password on a TLS server ([`PgServer::start_tls`]).
pub const PASSWORD: &str = "pg-test-secret";

/// The directory of the PostgreSQL server binaries; panics with install instructions when
/// there is none (these tests are never skipped silently).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOLLGATE_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server binaries in /usr/lib/postgresql/<version>/bin; install them \
             with `apt-get install postgresql` (scripts/test does), or point TOLLGATE_PG_BIN \
             at a directory holding initdb, pg_ctl and psql"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A free TCP port on 127.0.0.1 (bound and released; the tiny race is accepted).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// One PostgreSQL server on its own port and directory.
pub struct PgServer {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    as_postgres: bool,
    running: bool,
    reaper: Option<Child>,
    /// With TLS: the CA that signed the server's certificate (PEM file).
    ca: Option<PathBuf>,
}

impl PgServer {
    /// The server this test binary shares (started on first use).
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// Starts a server of its own (for tests that stop it).
    pub fn start() -> PgServer {
        PgServer::start_with(false)
    }

    /// Starts a server that takes TCP connections only over TLS (a certificate for 127.0.0.1
    /// and `localhost` signed by a fresh CA, see [`ca`](Self::ca)) and only with a password
    /// (SCRAM-SHA-256: [`PASSWORD`]); Unix-socket connections (the harness's psql) stay trusted.
    pub fn start_tls() -> PgServer {
        PgServer::start_with(true)
    }

    /// The PEM file of the CA of a TLS server.
    pub fn ca(&self) -> &std::path::Path {
        self.ca.as_deref().expect("a TLS server")
    }

    fn start_with(tls: bool) -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("tollgate-pg-")
            .tempdir()
            .expect("tempdir");
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()))
            .unwrap_or_else(|out| panic!("chown postgres {}: {out}", dir.path().display()));
        }
        let mut server = PgServer {
            bin,
            dir,
            port: free_port(),
            as_postgres,
            running: false,
            reaper: None,
            ca: None,
        };
        let mut initdb = server.tool("initdb");
        initdb.arg("-D").arg(server.data()).args([
            "-U",
            USER,
            "--auth=trust",
            "-N",
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        run(&mut initdb).unwrap_or_else(|out| panic!("initdb failed: {out}"));
        server.reaper = Some(server.spawn_reaper());
        if tls {
            server.ca = Some(server.make_certificates());
        }
        server.start_again();
        if tls {
            server.set_password();
        }
        server
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://tollgate@127.0.0.1:PORT/DB` plus `query` (e.g. `?timeout=2s`).
    pub fn url(&self, db: &str, query: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}{query}", self.port)
    }

    /// Creates a fresh database named after `label` and returns its URL plus `query`.
    pub fn database(&self, label: &str, query: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let name = format!("t_{clean}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name, query)
    }

    /// Runs `sql` in `db` with psql and returns its unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut cmd = Command::new(self.bin.join("psql"));
        // Over the Unix socket, which every server trusts.
        cmd.arg("-h")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", USER])
            .args([
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-q",
                "-A",
                "-t",
                "-c",
                sql,
            ]);
        match run(&mut cmd) {
            Ok(out) => out,
            Err(out) => panic!("psql {sql:?} failed: {out}\nlog:\n{}", self.log()),
        }
    }

    /// Stops the server at once (an outage); the data stays for [`start_again`](Self::start_again).
    pub fn stop(&mut self) {
        if let Err(out) = self.stop_now() {
            panic!("pg_ctl stop failed: {out}\nlog:\n{}", self.log());
        }
    }

    /// `pg_ctl stop -m immediate` when running.
    fn stop_now(&mut self) -> Result<(), String> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let mut stop = self.tool("pg_ctl");
        stop.arg("stop")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "-t", "30"]);
        run(&mut stop).map(|_| ())
    }

    /// Starts the (stopped) server again on the same port and waits until it accepts
    /// connections; panics with its log when it does not within 30 seconds.
    pub fn start_again(&mut self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c full_page_writes=off \
             -c max_connections=300 -c shared_buffers=32MB",
            self.port,
            self.dir.path().display()
        );
        let options = if self.ca.is_some() {
            format!(
                "{options} -c ssl=on -c ssl_cert_file={dir}/server.pem \
                 -c ssl_key_file={dir}/server.key",
                dir = self.dir.path().display()
            )
        } else {
            options
        };
        let mut start = self.tool("pg_ctl");
        start
            .arg("start")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "30", "-o", &options]);
        if let Err(out) = run(&mut start) {
            panic!(
                "pg_ctl start on port {} failed: {out}\nlog:\n{}",
                self.port,
                self.log()
            );
        }
        self.running = true;
    }

    /// A CA and a server certificate (ECDSA P-256) made with the `openssl` command, a
    /// password for [`USER`], and a `pg_hba.conf` that asks for TLS and SCRAM over TCP.
    fn make_certificates(&self) -> PathBuf {
        let dir = self.dir.path();
        let openssl = |args: &[&str]| {
            let mut cmd = Command::new("openssl");
            cmd.current_dir(dir).args(args);
            run(&mut cmd).unwrap_or_else(|out| {
                panic!("{out}\n(the TLS tests need the openssl command: apt-get install openssl)")
            });
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=tollgate test CA",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        std::fs::write(
            self.data().join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        if self.as_postgres {
            for file in ["server.key", "server.pem"] {
                run(Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.join(file)))
                .unwrap_or_else(|out| panic!("{out}"));
            }
        }
        run(Command::new("chmod").arg("600").arg(dir.join("server.key")))
            .unwrap_or_else(|out| panic!("{out}"));
        dir.join("ca.pem")
    }

    /// Sets [`USER`]'s password (a TLS server's TCP logins need it).
    fn set_password(&self) {
        self.psql(
            "postgres",
            &format!("ALTER USER {USER} PASSWORD '{PASSWORD}'"),
        );
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// A server binary, run as `postgres` when the tests run as root.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    /// The detached shell that stops the server and removes its directory once this process
    /// has exited (in its own session, so a Ctrl-C of the test run does not kill it first).
    fn spawn_reaper(&self) -> Child {
        let stop = format!(
            "{} {} stop -D {} -m immediate -w -t 30",
            if self.as_postgres {
                "runuser -u postgres --"
            } else {
                ""
            },
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
             {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.path().display()
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the reaper shell")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // No panic here: a panic in a drop while unwinding would abort the whole run.
        if let Err(out) = self.stop_now() {
            eprintln!("pg_ctl stop failed: {out}");
        }
        // The directory goes with `TempDir`; the reaper has nothing left to do.
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
    }
}

/// Runs a command to completion: its stdout, or a description of its failure.
fn run(cmd: &mut Command) -> Result<String, String> {
    let output: Output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{cmd:?} exited with {}:\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
