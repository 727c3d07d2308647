//! A provider served by an out-of-process adapter plugin (the example Python
//! plugin of `adapters/plugins/python-json-hmac`) behind a real hub: money
//! moves through it like through a built-in adapter, and when the plugin
//! process dies the hub's resilience stack answers for it (nothing moves, a
//! retry with the same key settles once it is back).
//!
//! Python comes from `TOOLS_PYTHON` (scripts/test.sh), else from
//! `scripts/tools.sh python`. Never skipped. The launcher is the plugin
//! bridge's own test support, included by path.

mod common;

#[path = "../../adapters/plugin/tests/support/python.rs"]
mod python;

use common::*;
use hub_proto::settlement::v1 as pb;
use python::PythonPlugin;
use tonic::Code;

const TOKEN: &str = "hub-plugin-test-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_provider_moves_money_and_its_death_moves_none() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("http://{}", sb.addr());
    let mut plugin = PythonPlugin::start(dir.path(), "plugin", TOKEN, SECRET, &base_url).await;

    let (_jdir, journal) = journal_path();
    let providers = format!(
        "[providers.plug]\ndialect = \"plugin\"\naddress = \"{}\"\ntoken = \"{TOKEN}\"\ntimeout = \"3s\"\n\
         [providers.plug.health]\ninterval = \"1h\"\n\
         [providers.plug.breaker]\nconsecutive_failures = 1000\nmin_requests = 100000\n",
        plugin.address
    );
    let partners = "[partners.p1]\nproviders = [\"plug\"]\n";
    let hub = TestHub::start_with(config_toml(&journal, &providers, partners)).await;
    let mut c = hub.client("p1").await;
    let through_plugin = |key: &str, minor: i64| {
        let mut d = debit(key, "acc-1", minor);
        d.provider = "plug".into();
        d
    };

    let tx = debited(&mut c, through_plugin("plug-1", 700)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 700));
    assert_eq!(sb.requests_for(&tx.transaction_id), 1);
    let bal = c
        .get_balance(pb::GetBalanceRequest {
            provider: "plug".into(),
            account: "acc-1".into(),
            currency_code: "EUR".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap();
    assert_eq!(bal.minor_units, 100_000 - 700);

    // The plugin dies: nothing can reach the provider, the call says so,
    // and nothing moves.
    plugin.child.kill().await.unwrap();
    let err = c.debit(through_plugin("plug-2", 300)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("PROVIDER_UNAVAILABLE"));
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 700));

    // Back again: the same key settles, once.
    let _plugin = PythonPlugin::start(dir.path(), "plugin", TOKEN, SECRET, &base_url).await;
    let tx = debited(&mut c, through_plugin("plug-2", 300)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 1_000));
    assert_eq!(sb.requests_for(&tx.transaction_id), 1);
    hub.stop().await;
}
