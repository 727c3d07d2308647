//! A `hub serve` child process for tests that need a real process (signals,
//! SIGKILL, its logs). Not in `common`: only the hub crate's tests have the binary.

#![allow(dead_code)]

use std::time::Duration;

/// A free loopback port (bound, then released for the hub process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `hub serve` process (plaintext, no metrics listener), killed and
/// reaped when dropped.
pub struct HubProcess {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl HubProcess {
    /// `hub --config CONFIG serve` on `port`, plaintext, without a metrics
    /// listener, logging at `HUB_LOG=warn` to nowhere; add to it before
    /// [`HubProcess::spawn`].
    pub fn command(config: &std::path::Path, port: u16) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hub"));
        cmd.arg("--config")
            .arg(config)
            .arg("serve")
            .env("HUB_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("HUB_SERVER__PLAINTEXT", "true")
            // No metrics listener: its default port is fixed.
            .env("HUB_METRICS__ENABLED", "false")
            .env("HUB_LOG", "warn")
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null());
        cmd
    }

    /// Starts `hub serve` with `config` and waits until it answers.
    pub async fn start(config: &std::path::Path, port: u16) -> HubProcess {
        Self::spawn(Self::command(config, port), port).await
    }

    /// Runs `cmd` (from [`HubProcess::command`]) and waits until the hub
    /// answers on `port`.
    pub async fn spawn(mut cmd: std::process::Command, port: u16) -> HubProcess {
        let child = cmd.spawn().unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Owned at once, so a failure below still kills and reaps it.
        let process = HubProcess { child, addr };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the hub process did not start");
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
