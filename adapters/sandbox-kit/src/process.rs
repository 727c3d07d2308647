//! A sandbox binary run as its own process (as demos and load tests run
//! it), for tests that check the binary itself: it listens on a free
//! loopback port with its control surface on, and is killed when dropped.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running sandbox binary.
pub struct SandboxProcess {
    child: Child,
    addr: SocketAddr,
}

impl SandboxProcess {
    /// Runs `exe --listen 127.0.0.1:PORT --control ARGS...` and waits (up
    /// to ten seconds) until it serves `/control/ledger`.
    pub async fn start(exe: &Path, args: &[&str]) -> io::Result<SandboxProcess> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(exe)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--control")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Owned at once, so an early return still kills it.
        let mut process = SandboxProcess { child, addr };
        for _ in 0..400 {
            if let Some(status) = process.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{} exited: {status}",
                    exe.display()
                )));
            }
            if process.get("/control/ledger").await.is_ok() {
                return Ok(process);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{} never served /control/ledger", exe.display()),
        ))
    }

    /// Runs `exe` as [`start`](Self::start) does with `args` and a
    /// `--seed ACCOUNT:CURRENCY:BALANCE` for each of `seeds`, and seeds
    /// `library` (an in-process sandbox of the same dialect) with the same
    /// accounts through [`Sandbox::seed`](crate::Sandbox::seed), for a test
    /// that the two then behave alike.
    pub async fn start_beside<D: crate::Dialect>(
        exe: &Path,
        args: &[&str],
        seeds: &[(&str, &str, i64)],
        library: &crate::Sandbox<D>,
    ) -> io::Result<SandboxProcess> {
        let seeds: Vec<String> = seeds
            .iter()
            .map(|&(account, currency, balance)| {
                library.seed(account, currency, balance);
                format!("{account}:{currency}:{balance}")
            })
            .collect();
        let mut all = args.to_vec();
        for seed in &seeds {
            all.extend(["--seed", seed]);
        }
        SandboxProcess::start(exe, &all).await
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its ledger (`GET /control/ledger`) as JSON.
    pub async fn ledger(&self) -> io::Result<serde_json::Value> {
        match self.get("/control/ledger").await? {
            (200, body) => serde_json::from_slice(&body).map_err(io::Error::other),
            (status, _) => Err(io::Error::other(format!(
                "/control/ledger: status {status}"
            ))),
        }
    }

    /// Its ledger against `library`'s (an in-process sandbox of the same
    /// dialect): both as JSON, for an `assert_eq!`.
    pub async fn ledgers<D: crate::Dialect>(
        &self,
        library: &crate::Sandbox<D>,
    ) -> io::Result<(serde_json::Value, serde_json::Value)> {
        let library = serde_json::to_value(library.ledger()).map_err(io::Error::other)?;
        Ok((self.ledger().await?, library))
    }

    /// Sets a fault through the control surface (`fault` as the JSON of
    /// [`crate::Fault`]).
    pub async fn set_fault(&self, fault: &str) -> io::Result<()> {
        match self.post("/control/faults", fault).await? {
            (200, _) => Ok(()),
            (status, body) => Err(io::Error::other(format!(
                "/control/faults: status {status}: {}",
                String::from_utf8_lossy(&body)
            ))),
        }
    }

    /// `GET path` on a fresh connection: the status and the body.
    pub async fn get(&self, path: &str) -> io::Result<(u16, Vec<u8>)> {
        self.request("GET", path, "").await
    }

    /// `POST path` with a JSON `body` on a fresh connection: the status and
    /// the body.
    pub async fn post(&self, path: &str, body: &str) -> io::Result<(u16, Vec<u8>)> {
        self.request("POST", path, body).await
    }

    async fn request(&self, method: &str, path: &str, body: &str) -> io::Result<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect(self.addr).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        let split = reply
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| io::Error::other("no end of the reply's head"))?;
        let status = std::str::from_utf8(&reply[..split])
            .ok()
            .and_then(|head| head.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::other("no status in the reply"))?;
        Ok((status, reply[split + 4..].to_vec()))
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
