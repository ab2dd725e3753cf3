//! A moto server per test: AWS for tests, started from `../shared/tools/moto_karpenter.py`.
//!
//! `Moto::start()` picks a free port, starts the server, waits for it to answer and stops it
//! again on drop (also when the test panics). Clients come from the project's own
//! [`AwsContext`] construction, with everything passed through [`AwsOptions`] (tests run in
//! parallel threads, so nothing touches the process environment).
//!
//! Overrides: `KUBECTL_KARPENTER_MOTO_SCRIPT` (path of the script) and
//! `KUBECTL_KARPENTER_PYTHON` (interpreter, default `python3`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubectl_karpenter::cloud::aws::{AwsContext, AwsOptions, Retries, StaticCredentials};

/// The region every moto test uses (moto picks its regional backend from the signing region).
pub const REGION: &str = "us-west-2";
/// moto's fixed account id.
pub const ACCOUNT_ID: &str = "123456789012";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const REQUIREMENTS_HINT: &str =
    "install it with `pip install -r ../shared/tools/requirements-moto.txt` (from the repository root)";

/// A running moto server owned by one test.
///
/// On Linux the server also gets SIGKILL when the thread that started it exits
/// (`PR_SET_PDEATHSIG` follows the spawning thread), which covers a test process that aborts or
/// is killed. So start it on the test's own thread (not in `spawn_blocking` or a short-lived
/// helper thread), and keep it for at most that thread's lifetime.
pub struct Moto {
    child: Child,
    port: u16,
    stderr: tempfile::NamedTempFile,
}

impl Moto {
    /// Start a server on a free 127.0.0.1 port and wait until `GET /moto-api/` answers.
    ///
    /// Panics (with the server's stderr) if it does not come up within 30 s, and with install
    /// instructions if the interpreter or moto is missing.
    pub fn start() -> Moto {
        let script = script_path();
        let python = std::env::var("KUBECTL_KARPENTER_PYTHON").unwrap_or_else(|_| "python3".into());
        // A port taken between our probe and moto's bind makes moto exit; try a few ports.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            match Moto::spawn(&python, &script, port) {
                Ok(moto) => return moto,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("{last_failure}");
    }

    fn spawn(python: &str, script: &Path, port: u16) -> Result<Moto, String> {
        let stderr = tempfile::Builder::new()
            .prefix("moto-stderr-")
            .suffix(".log")
            .tempfile()
            .unwrap_or_else(|e| panic!("cannot create a temp file for moto's stderr: {e}"));
        let stderr_handle = stderr
            .reopen()
            .unwrap_or_else(|e| panic!("cannot reopen {}: {e}", stderr.path().display()));
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr_handle));
        die_with_parent(&mut cmd);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run `{python}` to start moto ({e}); install Python 3 or set \
                 KUBECTL_KARPENTER_PYTHON to an interpreter that has moto ({REQUIREMENTS_HINT})"
            )
        });
        let mut moto = Moto {
            child,
            port,
            stderr,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let log = moto.stderr_log();
                if log.contains("ModuleNotFoundError") || log.contains("No module named") {
                    panic!(
                        "moto (or one of its dependencies) is not importable by `{python}`: \
                         {REQUIREMENTS_HINT}, or set KUBECTL_KARPENTER_PYTHON.\n\
                         --- moto stderr ---\n{log}"
                    );
                }
                return Err(format!(
                    "moto ({python} {}) exited with {status} before answering on port {port}\n\
                     --- moto stderr ---\n{log}",
                    script.display()
                ));
            }
            if let Ok((200, _)) = http(port, "GET", "/moto-api/") {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                let log = moto.stderr_log();
                // `moto` is dropped here, which kills the process.
                panic!(
                    "moto did not answer GET /moto-api/ on port {port} within {}s\n\
                     --- moto stderr ---\n{log}",
                    START_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Options for [`AwsContext::load`]: this endpoint, us-west-2, no retries (moto answers
    /// unimplemented calls with HTTP 500), static credentials, and an empty environment so the
    /// developer's own AWS settings cannot leak in.
    pub fn options(&self) -> AwsOptions {
        AwsOptions {
            region: Some(REGION.to_string()),
            endpoint_url: Some(self.endpoint()),
            retries: Some(Retries::Disabled),
            static_credentials: Some(StaticCredentials {
                access_key_id: "testing".to_string(),
                secret_access_key: "testing".to_string(),
            }),
            env: Some(HashMap::new()),
            ..AwsOptions::default()
        }
    }

    /// An [`AwsContext`] for this server.
    pub async fn context(&self) -> AwsContext {
        AwsContext::load(self.options())
            .await
            .unwrap_or_else(|e| panic!("AwsContext::load against moto failed: {e}"))
    }

    /// Clear every service's state (`POST /moto-api/reset`); seeded AMIs, SSM parameters and
    /// managed policies come back.
    pub fn reset(&self) {
        match http(self.port, "POST", "/moto-api/reset") {
            Ok((200, _)) => {}
            Ok((status, body)) => panic!("moto reset answered HTTP {status}: {body}"),
            Err(e) => panic!(
                "moto reset failed: {e}\n--- moto stderr ---\n{}",
                self.stderr_log()
            ),
        }
    }

    /// The server's stderr so far (request log and tracebacks), for diagnostics.
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_else(|e| format!("(unreadable: {e})"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `../shared/tools/moto_karpenter.py` beside the repository (or `KUBECTL_KARPENTER_MOTO_SCRIPT`).
fn script_path() -> PathBuf {
    if let Ok(p) = std::env::var("KUBECTL_KARPENTER_MOTO_SCRIPT") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "KUBECTL_KARPENTER_MOTO_SCRIPT={} is not a file",
            p.display()
        );
        return p;
    }
    let script = super::shared_dir().join("tools/moto_karpenter.py");
    assert!(
        script.is_file(),
        "cannot find {}; clone `shared/` beside the repository or set KUBECTL_KARPENTER_MOTO_SCRIPT",
        script.display()
    );
    script
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind a local port for moto: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the local port: {e}"))
        .port()
}

/// Ask the kernel to SIGKILL the server when the test process dies (even on abort or SIGKILL).
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid) between fork
    // and exec.
    let parent = std::process::id();
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may already have died between fork and prctl.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// A minimal HTTP/1.1 exchange with the server: (status, body).
fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:.200}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
