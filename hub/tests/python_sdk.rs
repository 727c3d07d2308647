//! The Python SDK (`sdk/python`) against a real hub and a real json-hmac
//! sandbox: this test starts both on ephemeral loopback ports, installs the
//! SDK from `sdk/python` with pip into a scratch directory (so the packaging
//! is tested too), and runs its pytest suite, which switches the sandbox's
//! faults itself through the sandbox's `/control` surface.
//!
//! The interpreter is `$TOOLS_PYTHON` (exported by scripts/test.sh), else the
//! venv that `scripts/tools.sh python` creates; a missing Python is installed,
//! never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{PROVIDER, SECRET, TestHub, config_toml, hmac_provider, journal_path};
use sandbox_json_hmac::{Sandbox, SandboxConfig};
use tokio::net::TcpListener;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

/// The Python with the SDK's pinned dependencies and pytest.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TOOLS_PYTHON") {
        return p.into();
    }
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/tools.sh"))
        .arg("python")
        .output()
        .expect("run scripts/tools.sh python");
    assert!(
        out.status.success(),
        "scripts/tools.sh python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// A json-hmac sandbox with its `/control` surface on, which the suite uses
/// to seed accounts, switch faults and count requests.
async fn controlled_sandbox(listener: TcpListener) -> Sandbox {
    Sandbox::start(
        listener,
        SandboxConfig {
            secret: SECRET.into(),
            operator: "hub".into(),
            control: true,
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_passes_its_suite_against_a_live_hub() {
    let python = python();
    let root = repo_root();

    // `pip install ./sdk/python` works, and the suite imports that install.
    let site = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-deps", "--no-build-isolation", "--target"])
        .arg(site.path())
        .arg(root.join("sdk/python"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip install ./sdk/python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let sandbox = controlled_sandbox(TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    // A second provider, `late`, is down until the suite flips a switch (a
    // connection to `switch`); then a sandbox starts on its reserved port.
    let late_addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let switch = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let switch_addr = switch.local_addr().unwrap();
    let late = tokio::spawn(async move {
        let (mut conn, _) = switch.accept().await.unwrap();
        let sb = controlled_sandbox(TcpListener::bind(late_addr).await.unwrap()).await;
        sb.seed("acc-late", "EUR", 100_000);
        tokio::io::AsyncWriteExt::write_all(&mut conn, b"up\n")
            .await
            .unwrap();
        sb
    });

    let (_dir, journal) = journal_path();
    // No hub-side retries and a patient breaker, so the SDK itself sees (and
    // retries) each injected failure; a fast resolver for PENDING.
    let quiet = |name: &str| {
        format!(
            "[providers.{name}.health]\ninterval = \"1h\"\n\
             [providers.{name}.retry]\nmax_attempts = 1\n\
             [providers.{name}.breaker]\nconsecutive_failures = 1000\nmin_requests = 1000\n"
        )
    };
    let provider = hmac_provider(PROVIDER, sandbox.addr(), &quiet(PROVIDER))
        + &hmac_provider("late", late_addr, &quiet("late"))
        + "[resolver]\npoll_interval = \"50ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"100ms\"\nmax_attempts = 4\nsettle_after = \"500ms\"\n";
    let partners = format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\", \"late\"]\n\
         [partners.p3]\nproviders = []\n\
         [partners.lim]\nproviders = [\"{PROVIDER}\"]\n[partners.lim.rate]\nper_second = 1\nburst = 1\n"
    );
    let hub = TestHub::start_with(config_toml(&journal, &provider, &partners)).await;

    let mut cmd = tokio::process::Command::new(&python);
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"])
        .arg(root.join("sdk/python/tests"))
        .current_dir(&root)
        .env("PYTHONPATH", site.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("SETTLEMENT_TARGET", hub.addr.to_string())
        .env("SETTLEMENT_PROVIDER", PROVIDER)
        .env("SETTLEMENT_KEY_P1", hub.key("p1").await)
        .env("SETTLEMENT_KEY_P3", hub.key("p3").await)
        .env("SETTLEMENT_KEY_LIMITED", hub.key("lim").await)
        .env("SANDBOX_URL", format!("http://{}", sandbox.addr()))
        .env("LATE_PROVIDER", "late")
        .env("LATE_SANDBOX_URL", format!("http://{late_addr}"))
        .env("LATE_SWITCH", switch_addr.to_string())
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(240), cmd.output())
        .await
        .expect("the pytest suite finishes within 4 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pytest failed");
    // The suite really ran against this hub: it moved money here.
    assert!(
        sandbox.stats().money_requests > 0,
        "no money reached the sandbox"
    );
    assert!(stdout.contains(" passed"), "no pytest summary: {stdout}");
    let late = tokio::time::timeout(std::time::Duration::from_secs(5), late)
        .await
        .expect("the suite started the late provider")
        .unwrap();
    assert_eq!(late.balance("acc-late"), Some(100_000 - 900), "moved once");
    hub.stop().await;
}
