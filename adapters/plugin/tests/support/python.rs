//! Starts the example Python plugin (adapters/plugins/python-json-hmac) as a
//! child process on a Unix socket, for the tests that put it behind the
//! bridge (here) or behind a whole hub (`hub/tests/plugin.rs` includes this
//! file by path).
//!
//! Python comes from `TOOLS_PYTHON` (set by scripts/test.sh), else from
//! `scripts/tools.sh python`, which creates the pinned venv on first use.
//! Never skipped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The repository root, from either crate that includes this file.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("scripts/tools.sh").is_file())
        .expect("the crate lives in the repository")
        .to_path_buf()
}

/// The pinned Python: `TOOLS_PYTHON`, or the project venv.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TOOLS_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let out = std::process::Command::new("bash")
        .arg(repo().join("scripts/tools.sh"))
        .arg("python")
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs scripts/tools.sh");
    assert!(out.status.success(), "scripts/tools.sh python failed");
    PathBuf::from(String::from_utf8(out.stdout).expect("a UTF-8 path").trim())
}

/// A running plugin process; killed when dropped.
pub struct PythonPlugin {
    /// The process.
    pub child: Child,
    /// Where it listens, as a bridge `address` (`unix:/...`).
    pub address: String,
}

impl PythonPlugin {
    /// Starts the plugin in `dir` (its socket is `dir/NAME.sock`), with
    /// `token` and the sandbox `secret` in files there, talking to the
    /// json-hmac sandbox at `base_url`; returns once it says it listens.
    pub async fn start(dir: &Path, name: &str, token: &str, secret: &str, base_url: &str) -> Self {
        let token_file = dir.join(format!("{name}.token"));
        let secret_file = dir.join(format!("{name}.secret"));
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        std::fs::write(&secret_file, secret).unwrap();
        let socket = dir.join(format!("{name}.sock"));
        // A socket left by an earlier run of the same name is stale.
        let _ = std::fs::remove_file(&socket);
        let listen = format!("unix:{}", socket.display());
        let mut child = Command::new(python())
            .args([
                "-m",
                "json_hmac_plugin",
                "--listen",
                &listen,
                "--operator",
                "hub",
            ])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--secret-file")
            .arg(&secret_file)
            .args(["--base-url", base_url, "--timeout", "5"])
            .current_dir(repo().join("adapters/plugins/python-json-hmac"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the plugin starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the plugin says it listens within a minute")
            .expect("its stdout is readable")
            .expect("the plugin printed a line before exiting");
        assert_eq!(line, format!("listening on {listen}"));
        Self {
            child,
            address: listen,
        }
    }
}
