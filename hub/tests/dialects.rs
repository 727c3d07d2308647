//! The hub end to end through each built-in dialect: the same partner calls
//! move money at a json-hmac, a json-rsa and a form-md5 sandbox provider, and
//! each provider's own ledger shows it.

mod common;

use std::path::PathBuf;

use common::*;
use hub_proto::settlement::v1 as pb;

fn keys() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/samples/json-rsa/keys")
}

/// Balances in each provider's own units, read back as minor units.
struct Ledgers {
    hmac: sandbox_json_hmac::Sandbox,
    rsa: sandbox_json_rsa::Sandbox,
    md5: sandbox_form_md5::Sandbox,
}

impl Ledgers {
    fn minor(&self, provider: &str, account: &str) -> Option<i64> {
        match provider {
            "hmac" => self.hmac.balance(account),
            // json-rsa keeps 1e-5 of a unit: EUR has 2 decimals.
            "rsa" => self.rsa.balance(account).map(|u| u / 1_000),
            "md5" => self.md5.balance(account),
            _ => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dialect_moves_money_the_same_way() {
    let hmac = sandbox().await;
    let rsa = sandbox_json_rsa::Sandbox::start_local(
        sandbox_json_rsa::SandboxConfig::default().setup().unwrap(),
    )
    .await
    .unwrap();
    rsa.seed("acc-1", "EUR", 100_000 * 1_000);
    let md5 = sandbox_form_md5::Sandbox::start_local(sandbox_form_md5::SandboxConfig {
        secret: "md5-secret".into(),
        provider_id: "hub".into(),
        control: false,
    })
    .await
    .unwrap();
    md5.seed("acc-1", "EUR", 100_000);

    let rsa_entry = format!(
        r#"
        [providers.rsa]
        dialect = "json-rsa"
        base_url = "{}"
        private_key_file = "{}"
        provider_public_key_file = "{}"
        "#,
        rsa.base_url(),
        keys().join("operator_private.pem").display(),
        keys().join("provider_public.pem").display(),
    );
    let md5_entry = format!(
        r#"
        [providers.md5]
        dialect = "form-md5"
        base_url = "{}"
        secret = "md5-secret"
        provider_id = "hub"
        "#,
        md5.base_url()
    );
    let providers = format!(
        "{}\n{rsa_entry}\n{md5_entry}",
        hmac_provider("hmac", hmac.addr(), "")
    );
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(&path, &providers, &["hmac", "rsa", "md5"])).await;
    let ledgers = Ledgers { hmac, rsa, md5 };
    let mut c = hub.client("p1").await;

    for provider in ["hmac", "rsa", "md5"] {
        let key = |k: &str| format!("{provider}-{k}");
        let debit = c
            .debit(pb::DebitRequest {
                idempotency_key: key("d"),
                provider: provider.into(),
                account: "acc-1".into(),
                amount: eur(2_500),
                reference: "round-1".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(state(&debit), pb::TransactionState::Settled, "{provider}");
        assert_eq!(debit.balance_after, eur(97_500), "{provider}");
        assert_eq!(ledgers.minor(provider, "acc-1"), Some(97_500), "{provider}");

        let replay = c
            .debit(pb::DebitRequest {
                idempotency_key: key("d"),
                provider: provider.into(),
                account: "acc-1".into(),
                amount: eur(2_500),
                reference: "round-1".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert!(replay.replay, "{provider}");
        assert_eq!(ledgers.minor(provider, "acc-1"), Some(97_500), "{provider}");

        let credit = c
            .credit(pb::CreditRequest {
                idempotency_key: key("c"),
                provider: provider.into(),
                account: "acc-1".into(),
                amount: eur(1_000),
                reference: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(state(&credit), pb::TransactionState::Settled, "{provider}");
        assert_eq!(ledgers.minor(provider, "acc-1"), Some(98_500), "{provider}");

        let rollback = c
            .rollback(pb::RollbackRequest {
                idempotency_key: key("r"),
                target: Some(pb::rollback_request::Target::TransactionId(
                    debit.transaction_id.clone(),
                )),
                provider: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(
            state(&rollback),
            pb::TransactionState::RolledBack,
            "{provider}"
        );
        assert_eq!(
            ledgers.minor(provider, "acc-1"),
            Some(101_000),
            "{provider}"
        );

        let err = c
            .rollback(pb::RollbackRequest {
                idempotency_key: key("r-credit"),
                target: Some(pb::rollback_request::Target::TransactionId(
                    credit.transaction_id.clone(),
                )),
                provider: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            reason(&err).as_deref(),
            Some("NOT_REVERSIBLE"),
            "{provider}"
        );

        let declined = c
            .debit(pb::DebitRequest {
                idempotency_key: key("too-much"),
                provider: provider.into(),
                account: "acc-1".into(),
                amount: eur(1_000_000),
                reference: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(
            declined.decline_reason,
            pb::DeclineReason::InsufficientFunds as i32,
            "{provider}"
        );

        let balance = c
            .get_balance(pb::GetBalanceRequest {
                provider: provider.into(),
                account: "acc-1".into(),
                currency_code: "EUR".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(balance.balance, eur(101_000), "{provider}");
        assert_eq!(
            ledgers.minor(provider, "acc-1"),
            Some(101_000),
            "{provider}"
        );
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_bad_provider_entry_fails_start_up_naming_the_field() {
    let (_dir, path) = journal_path();
    let providers = r#"
        [providers.rsa]
        dialect = "json-rsa"
        base_url = "http://127.0.0.1:9"
        private_key_file = "/nonexistent/key.pem"
        provider_public_key_file = "/nonexistent/pub.pem"
    "#;
    let config = config_with(&path, providers, &["rsa"]);
    let journal = std::sync::Arc::new(hub::journal::SqliteJournal::open(&path).unwrap());
    let err = hub::server::Hub::with_journal(
        &config,
        journal,
        std::sync::Arc::new(hub::engine::SystemClock),
        std::sync::Arc::new(hub::resilience::SeededJitter::new(1)),
    )
    .err()
    .expect("start-up fails");
    assert!(
        err.to_string()
            .starts_with("configuration: providers.rsa.private_key_file"),
        "{err}"
    );
}
