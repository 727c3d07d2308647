//! A `hub serve` child process for tests that need a real process (signals,
//! SIGKILL). Not in `common`: only the hub crate's tests have the binary.

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
    /// Starts `hub serve` with `config` and waits until it answers.
    pub async fn start(config: &std::path::Path, port: u16) -> HubProcess {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("HUB_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("HUB_SERVER__PLAINTEXT", "true")
            // No metrics listener: its default port is fixed.
            .env("HUB_METRICS__ENABLED", "false")
            .env("HUB_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
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
