//! The processes a scenario runs: the hub (release binary, killed with
//! SIGKILL and restarted mid-run by one scenario), the sandbox providers
//! with their control surface on, and the bare server. Each listens on a
//! free loopback port and writes its log to a file in the run directory.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Where the release binaries are (`target/release` by default: the
/// directory of the running `hub-load`).
#[derive(Clone, Debug)]
pub struct Bins {
    dir: PathBuf,
}

impl Bins {
    /// `dir`, or the directory of the running executable.
    pub fn locate(dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let dir = match dir {
            Some(d) => d,
            None => std::env::current_exe()?
                .parent()
                .context("the executable has no directory")?
                .to_owned(),
        };
        Ok(Bins { dir })
    }

    /// The path of binary `name`, which must exist.
    pub fn path(&self, name: &str) -> anyhow::Result<PathBuf> {
        let p = self.dir.join(name);
        if !p.is_file() {
            bail!(
                "{} not found: build it first (cargo build --release -p hub -p hub-load -p sandbox-json-hmac -p sandbox-json-rsa -p sandbox-form-md5)",
                p.display()
            );
        }
        Ok(p)
    }
}

/// A free loopback port (bound, read, released: a tiny race with other
/// programs that is acceptable for benchmarks, never used by tests).
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_listening(addr: SocketAddr, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listens on {addr} after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A child process that is killed when dropped.
pub struct Proc {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    log: PathBuf,
    child: tokio::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Proc {
    /// Starts `program args` with `envs`, appending its output to `log`,
    /// and waits until it listens on `addr`.
    pub async fn start(
        name: &str,
        program: PathBuf,
        args: Vec<String>,
        envs: Vec<(String, String)>,
        log: PathBuf,
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let child = spawn(&program, &args, &envs, &log)?;
        let mut p = Proc {
            name: name.to_owned(),
            program,
            args,
            envs,
            log,
            child,
            addr,
        };
        p.ready().await?;
        Ok(p)
    }

    async fn ready(&mut self) -> anyhow::Result<()> {
        if let Err(e) = wait_listening(self.addr, Duration::from_secs(30)).await {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                bail!(
                    "{} exited with {status}; the end of its log:\n{}",
                    self.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            return Err(e);
        }
        Ok(())
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, and waits for it to die.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Starts the same command again (after [`Proc::kill9`] or an exit)
    /// and waits until it listens.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.child = spawn(&self.program, &self.args, &self.envs, &self.log)?;
        self.ready().await
    }

    /// SIGTERM, then waits up to `within` for a graceful exit (SIGKILL
    /// after that).
    pub async fn stop(mut self, within: Duration) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("{} did not stop within {within:?}", self.name)
            }
        }
    }

    /// Resident memory (VmRSS) in KiB, from /proc, if readable.
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

fn spawn(
    program: &Path,
    args: &[String],
    envs: &[(String, String)],
    log: &Path,
) -> anyhow::Result<tokio::process::Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    cmd.spawn()
        .with_context(|| format!("starting {}", program.display()))
}

/// Sends `method url` with a JSON `body` to a sandbox's control surface;
/// fails unless it answers 2xx.
pub async fn control(method: &str, url: &str, body: Option<String>) -> anyhow::Result<()> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let resp = client.request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!(
            "{method} {url}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}
