//! Tenant isolation and role denial on every settlement RPC (the RPC list
//! comes from the service descriptor, so a new RPC without a case fails),
//! and a secrets scan of a real hub process's TRACE logs.

mod common;
#[path = "common/jwt.rs"]
mod jwt;
#[path = "common/process.rs"]
mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hub::auth::{Permission, required_permission};
use hub_proto::settlement::v1 as pb;
use process::{HubProcess, free_port};
use tokio_stream::StreamExt;
use tonic::{Code, Status};

/// What one call of an RPC showed its caller: every transaction it returned.
type Seen = Vec<pb::Transaction>;
type CallFuture = Pin<Box<dyn Future<Output = Result<Seen, Status>> + Send>>;
/// Issues one RPC with a client, aimed at the owner's transactions.
type Call = Box<dyn Fn(Client, Arc<Target>) -> CallFuture + Send + Sync>;

/// The owner's (p1's) transactions that other partners aim at.
struct Target {
    debit_key: String,
    debit_id: String,
    credit_key: String,
    credit_id: String,
}

impl Target {
    fn ids(&self) -> [&str; 2] {
        [&self.debit_id, &self.credit_id]
    }

    /// Whether `tx` is one of the owner's transactions or reverses one.
    fn owns(&self, tx: &pb::Transaction) -> bool {
        self.ids()
            .iter()
            .any(|id| tx.transaction_id == *id || tx.reverses_transaction_id == *id)
    }
}

/// Transactions that exist for no one: what a partner's lookup of an id or
/// key of its own that was never used aims at.
fn ghost() -> Arc<Target> {
    let fresh = || uuid::Uuid::new_v4().to_string();
    Arc::new(Target {
        debit_key: format!("ghost-{}", fresh()),
        debit_id: fresh(),
        credit_key: format!("ghost-{}", fresh()),
        credit_id: fresh(),
    })
}

/// Everything a partner sees of a refusal: code, message and details.
fn whole(status: &Status) -> (Code, String, Vec<u8>) {
    (
        status.code(),
        status.message().to_owned(),
        status.details().to_vec(),
    )
}

/// What another partner must get from an RPC aimed at the owner's data.
#[derive(Clone, Copy, Debug, PartialEq)]
enum CrossTenant {
    /// NOT_FOUND: the owner's transaction does not exist for it.
    NotFound,
    /// An answer holding none of the owner's transactions.
    SeesNothing,
    /// Its own new transaction, independent of the owner's with that key.
    OwnTransaction,
}

struct Case {
    call: Call,
    cross_tenant: CrossTenant,
}

const DEBIT_MINOR: i64 = 300;
const CREDIT_MINOR: i64 = 200;
const WATCH_FOR: Duration = Duration::from_millis(400);

fn boxed<F>(f: F) -> CallFuture
where
    F: Future<Output = Result<Seen, Status>> + Send + 'static,
{
    Box::pin(f)
}

fn get_by(lookup: pb::get_transaction_request::Lookup) -> pb::GetTransactionRequest {
    pb::GetTransactionRequest {
        lookup: Some(lookup),
    }
}

/// One case per RPC, by method name. GetTransaction and Rollback are
/// covered several ways; the first entry for a method is its case here,
/// the extra lookups are in `extra_cases`.
fn cases() -> BTreeMap<&'static str, Case> {
    let mut m: BTreeMap<&'static str, Case> = BTreeMap::new();
    m.insert(
        "Debit",
        Case {
            call: Box::new(|mut c, t| {
                boxed(async move {
                    let tx = c
                        .debit(debit(&t.debit_key, "acc-1", DEBIT_MINOR))
                        .await?
                        .into_inner()
                        .transaction;
                    Ok(tx.into_iter().collect())
                })
            }),
            cross_tenant: CrossTenant::OwnTransaction,
        },
    );
    m.insert(
        "Credit",
        Case {
            call: Box::new(|mut c, t| {
                boxed(async move {
                    let tx = c
                        .credit(credit(&t.credit_key, "acc-1", CREDIT_MINOR))
                        .await?
                        .into_inner()
                        .transaction;
                    Ok(tx.into_iter().collect())
                })
            }),
            cross_tenant: CrossTenant::OwnTransaction,
        },
    );
    m.insert(
        "Rollback",
        Case {
            call: Box::new(|mut c, t| {
                boxed(async move {
                    let tx = c
                        .rollback(pb::RollbackRequest {
                            idempotency_key: "rb-1".into(),
                            target: Some(pb::rollback_request::Target::TransactionId(
                                t.debit_id.clone(),
                            )),
                            provider: String::new(),
                        })
                        .await?
                        .into_inner()
                        .transaction;
                    Ok(tx.into_iter().collect())
                })
            }),
            cross_tenant: CrossTenant::NotFound,
        },
    );
    m.insert(
        "GetBalance",
        Case {
            call: Box::new(|mut c, _t| {
                boxed(async move {
                    c.get_balance(pb::GetBalanceRequest {
                        provider: PROVIDER.into(),
                        account: "acc-1".into(),
                        currency_code: "EUR".into(),
                    })
                    .await?;
                    Ok(Vec::new())
                })
            }),
            // Balances are the provider's accounts, not a partner's
            // transactions: nothing of the owner's can show.
            cross_tenant: CrossTenant::SeesNothing,
        },
    );
    m.insert(
        "GetTransaction",
        Case {
            call: Box::new(|mut c, t| {
                boxed(async move {
                    let tx = c
                        .get_transaction(get_by(
                            pb::get_transaction_request::Lookup::TransactionId(t.debit_id.clone()),
                        ))
                        .await?
                        .into_inner()
                        .transaction;
                    Ok(tx.into_iter().collect())
                })
            }),
            cross_tenant: CrossTenant::NotFound,
        },
    );
    m.insert(
        "ListTransactions",
        Case {
            call: Box::new(|mut c, _t| {
                boxed(async move {
                    Ok(c.list_transactions(pb::ListTransactionsRequest {
                        page_size: 1000,
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .transactions)
                })
            }),
            cross_tenant: CrossTenant::SeesNothing,
        },
    );
    m.insert(
        "WatchTransactions",
        Case {
            call: Box::new(|mut c, _t| {
                boxed(async move {
                    let mut stream = c
                        .watch_transactions(pb::WatchTransactionsRequest::default())
                        .await?
                        .into_inner();
                    let mut seen = Vec::new();
                    let until = tokio::time::Instant::now() + WATCH_FOR;
                    while let Ok(Some(item)) = tokio::time::timeout_at(until, stream.next()).await {
                        seen.extend(item?.transaction);
                    }
                    Ok(seen)
                })
            }),
            cross_tenant: CrossTenant::SeesNothing,
        },
    );
    m
}

/// Further lookups of the owner's transactions: GetTransaction by key and
/// by the credit's id, Rollback by the debit's key and of the credit's id.
/// Each must look exactly like the same call aimed at an id or key of the
/// caller's own that does not exist (NOT_FOUND; for a rollback by key
/// without `provider`, the same INVALID_ARGUMENT).
fn extra_cases() -> Vec<(&'static str, Call)> {
    vec![
        (
            "GetTransaction by idempotency key",
            Box::new(|mut c: Client, t: Arc<Target>| {
                boxed(async move {
                    let tx = c
                        .get_transaction(get_by(
                            pb::get_transaction_request::Lookup::IdempotencyKey(
                                t.debit_key.clone(),
                            ),
                        ))
                        .await?
                        .into_inner()
                        .transaction;
                    Ok(tx.into_iter().collect())
                })
            }),
        ),
        (
            "GetTransaction by the credit's id",
            Box::new(|mut c: Client, t: Arc<Target>| {
                boxed(async move {
                    let tx = c
                        .get_transaction(get_by(
                            pb::get_transaction_request::Lookup::TransactionId(t.credit_id.clone()),
                        ))
                        .await?
                        .into_inner()
                        .transaction;
                    Ok(tx.into_iter().collect())
                })
            }),
        ),
        (
            "Rollback by the debit's idempotency key",
            Box::new(|mut c: Client, t: Arc<Target>| {
                boxed(async move {
                    let tx = c
                        .rollback(pb::RollbackRequest {
                            idempotency_key: "rb-3".into(),
                            target: Some(pb::rollback_request::Target::OriginalIdempotencyKey(
                                t.debit_key.clone(),
                            )),
                            provider: String::new(),
                        })
                        .await?
                        .into_inner()
                        .transaction;
                    Ok(tx.into_iter().collect())
                })
            }),
        ),
        (
            "Rollback of the credit's id",
            Box::new(|mut c: Client, t: Arc<Target>| {
                boxed(async move {
                    let tx = c
                        .rollback(pb::RollbackRequest {
                            idempotency_key: "rb-2".into(),
                            target: Some(pb::rollback_request::Target::TransactionId(
                                t.credit_id.clone(),
                            )),
                            provider: String::new(),
                        })
                        .await?
                        .into_inner()
                        .transaction;
                    Ok(tx.into_iter().collect())
                })
            }),
        ),
    ]
}

/// The settlement service's method names, from the descriptor.
fn descriptor_methods() -> BTreeSet<String> {
    let set =
        <prost_types::FileDescriptorSet as prost::Message>::decode(hub_proto::FILE_DESCRIPTOR_SET)
            .unwrap();
    let mut methods = BTreeSet::new();
    let mut services = 0;
    for file in &set.file {
        for svc in &file.service {
            if format!("{}.{}", file.package(), svc.name()) == "settlement.v1.SettlementService" {
                services += 1;
                methods.extend(svc.method.iter().map(|m| m.name().to_owned()));
            }
        }
    }
    assert_eq!(services, 1, "the descriptor holds the settlement service");
    methods
}

fn rpc_path(method: &str) -> String {
    format!("/settlement.v1.SettlementService/{method}")
}

#[test]
fn the_case_table_covers_exactly_the_descriptors_rpcs() {
    let methods = descriptor_methods();
    assert!(!methods.is_empty());
    let covered: BTreeSet<String> = cases().keys().map(|m| (*m).to_owned()).collect();
    assert_eq!(
        covered, methods,
        "every RPC of settlement.v1.SettlementService needs an isolation case, and only those"
    );
    for m in &methods {
        assert!(
            required_permission(&rpc_path(m)).is_some(),
            "{m} requires a permission"
        );
    }
}

/// A hub with the owner p1, the other partner p2 (both may move and read),
/// and role-limited partners: p4 reads, p5 moves, p6 may do nothing.
async fn isolation_hub(sb: &sandbox_json_hmac::Sandbox, path: &std::path::Path) -> TestHub {
    let partners = format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n\
         [partners.p2]\nproviders = [\"{PROVIDER}\"]\n\
         [partners.p4]\nproviders = [\"{PROVIDER}\"]\npermissions = [\"read\"]\n\
         [partners.p5]\nproviders = [\"{PROVIDER}\"]\npermissions = [\"move\"]\n\
         [partners.p6]\nproviders = [\"{PROVIDER}\"]\npermissions = []\n"
    );
    TestHub::start_with(config_toml(path, &quiet_provider(sb.addr()), &partners)).await
}

/// p1's debit and credit, settled.
async fn owner_transactions(hub: &TestHub) -> Arc<Target> {
    let mut p1 = hub.client("p1").await;
    let d = debited(&mut p1, debit("owner-debit", "acc-1", DEBIT_MINOR)).await;
    let c = p1
        .credit(credit("owner-credit", "acc-1", CREDIT_MINOR))
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&d), pb::TransactionState::Settled);
    assert_eq!(state(&c), pb::TransactionState::Settled);
    Arc::new(Target {
        debit_key: d.idempotency_key,
        debit_id: d.transaction_id,
        credit_key: c.idempotency_key,
        credit_id: c.transaction_id,
    })
}

/// p1's transactions as p1 sees them.
async fn owner_view(hub: &TestHub) -> Vec<pb::Transaction> {
    hub.client("p1")
        .await
        .list_transactions(pb::ListTransactionsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transactions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_partner_can_neither_see_nor_touch_the_owners_transactions_on_any_rpc() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = isolation_hub(&sb, &path).await;
    let target = owner_transactions(&hub).await;
    let before = owner_view(&hub).await;
    assert_eq!(before.len(), 2);

    let cases = cases();
    assert_eq!(
        cases
            .keys()
            .map(|m| (*m).to_owned())
            .collect::<BTreeSet<_>>(),
        descriptor_methods()
    );
    // Before p2 has any transaction of its own under p1's keys.
    for (what, call) in extra_cases() {
        let moved = sb.money_requests();
        let nothing = call(hub.client("p2").await, ghost()).await.expect_err(what);
        let err = call(hub.client("p2").await, target.clone())
            .await
            .expect_err(what);
        if !what.starts_with("Rollback by") {
            assert_eq!(err.code(), Code::NotFound, "{what}: {err:?}");
        }
        assert_eq!(
            whole(&err),
            whole(&nothing),
            "{what}: exactly what a lookup of nothing gets"
        );
        assert_eq!(sb.money_requests(), moved, "{what}: nothing moved");
    }

    for (method, case) in &cases {
        let moved = sb.money_requests();
        let got = (case.call)(hub.client("p2").await, target.clone()).await;
        match case.cross_tenant {
            CrossTenant::NotFound => {
                let err = got.expect_err(method);
                assert_eq!(err.code(), Code::NotFound, "{method}: {err:?}");
                let nothing = (case.call)(hub.client("p2").await, ghost())
                    .await
                    .expect_err(method);
                assert_eq!(
                    whole(&err),
                    whole(&nothing),
                    "{method}: exactly what a lookup of nothing gets"
                );
                assert_eq!(sb.money_requests(), moved, "{method}: nothing moved");
            }
            CrossTenant::SeesNothing => {
                let seen = got.unwrap_or_else(|e| panic!("{method}: {e:?}"));
                assert!(
                    !seen.iter().any(|tx| target.owns(tx)),
                    "{method} showed p2 one of p1's transactions: {seen:?}"
                );
                assert_eq!(sb.money_requests(), moved, "{method}: nothing moved");
            }
            CrossTenant::OwnTransaction => {
                let seen = got.unwrap_or_else(|e| panic!("{method}: {e:?}"));
                assert_eq!(seen.len(), 1, "{method}");
                let tx = &seen[0];
                assert!(!target.owns(tx), "{method} replayed p1's transaction");
                assert!(!tx.replay, "{method}: a new transaction, not a replay");
                assert_eq!(state(tx), pb::TransactionState::Settled, "{method}");
                assert_eq!(
                    sb.money_requests(),
                    moved + 1,
                    "{method}: p2's own call reached the provider"
                );
            }
        }
    }
    // p2's own transactions exist under p1's keys, independent of p1's.
    let mut p2 = hub.client("p2").await;
    for key in [&target.debit_key, &target.credit_key] {
        let own = p2
            .get_transaction(get_by(pb::get_transaction_request::Lookup::IdempotencyKey(
                key.clone(),
            )))
            .await
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert!(!target.owns(&own));
    }

    // p1's transactions are untouched: same rows, same states, no reversal.
    let after = owner_view(&hub).await;
    assert_eq!(after, before, "p1's transactions did not change");
    assert_eq!(
        sb.balance("acc-1"),
        Some(100_000 - 2 * DEBIT_MINOR + 2 * CREDIT_MINOR),
        "only p1's and p2's own debit and credit moved money"
    );

    // The control: the same calls by the owner do show its transactions,
    // so the checks above would catch a leak.
    for (method, case) in &cases {
        if *method == "GetBalance" {
            continue;
        }
        let seen = (case.call)(hub.client("p1").await, target.clone())
            .await
            .unwrap_or_else(|e| panic!("{method} by the owner: {e:?}"));
        assert!(
            seen.iter().any(|tx| target.owns(tx)),
            "{method} by the owner shows its transaction: {seen:?}"
        );
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_without_an_rpcs_permission_is_denied_it_and_nothing_moves() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = isolation_hub(&sb, &path).await;
    let target = owner_transactions(&hub).await;
    let roles: [(&str, &[Permission]); 3] = [
        ("p4", &[Permission::Read]),
        ("p5", &[Permission::Move]),
        ("p6", &[]),
    ];
    let cases = cases();
    assert_eq!(
        cases
            .keys()
            .map(|m| (*m).to_owned())
            .collect::<BTreeSet<_>>(),
        descriptor_methods()
    );
    let mut denied = 0;
    for (method, case) in &cases {
        let needs = required_permission(&rpc_path(method)).expect(method);
        for (partner, has) in roles {
            if has.contains(&needs) {
                continue;
            }
            let moved = sb.money_requests();
            let err = (case.call)(hub.client(partner).await, target.clone())
                .await
                .expect_err(method);
            assert_eq!(
                err.code(),
                Code::PermissionDenied,
                "{partner} on {method}: {err:?}"
            );
            assert_eq!(reason(&err).as_deref(), Some("PERMISSION_DENIED"));
            assert_eq!(sb.money_requests(), moved, "{partner} on {method} moved");
            denied += 1;
        }
    }
    // Every RPC was refused to two of the three role-limited partners.
    assert_eq!(denied, 2 * cases.len());
    let p1 = hub::domain::PartnerId::parse("p1").unwrap();
    for partner in ["p4", "p5", "p6"] {
        let id = hub::domain::PartnerId::parse(partner).unwrap();
        let rows = hub::journal::Journal::list(&*hub.journal, &id, &Default::default(), 0, 10)
            .await
            .unwrap();
        assert!(rows.is_empty(), "{partner} journaled nothing");
    }
    let rows = hub::journal::Journal::list(&*hub.journal, &p1, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "p1's transactions only");
    assert_eq!(sb.money_requests(), 2);
    hub.stop().await;
}

// ---------------------------------------------------------------------------
// Secrets scan.

/// Names of the secrets in `secrets` that occur in `log`.
fn leaked<'a>(log: &str, secrets: &[(&'a str, &str)]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|(_, s)| {
            assert!(s.len() >= 8, "a secret too short to search for");
            log.contains(s)
        })
        .map(|(name, _)| *name)
        .collect()
}

/// A `hub serve` process logging at TRACE (JSON lines if `json`) into `log`.
async fn traced_process(config: &std::path::Path, log: &std::path::Path, json: bool) -> HubProcess {
    let port = free_port();
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let mut cmd = HubProcess::command(config, port);
    if json {
        cmd.arg("--log-json");
    }
    cmd.env("HUB_LOG", "trace").stdout(out).stderr(err);
    HubProcess::spawn(cmd, port).await
}

const PROVIDER_SECRET: &str = "prov-secret-5f0c2e9a71d84b36";
/// The form-md5 provider's shared secret.
const MD5_SECRET: &str = "md5-secret-0d6b1e7a93c24f58";

/// Runs a hub process at TRACE with a json-hmac and a form-md5 provider,
/// a partner calling with an API key and with a JWT bearer token, and an
/// operator calling admin.v1 with its key (which creates another API key);
/// makes some good and bad calls, and returns its whole output and every
/// secret by name. The run is plaintext, so there is no TLS private key to
/// look for (TLS key files are only ever read by rustls).
async fn traced_run(json: bool) -> (String, Vec<(&'static str, String)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sb = sandbox_json_hmac::Sandbox::start(
        listener,
        sandbox_json_hmac::SandboxConfig {
            secret: PROVIDER_SECRET.into(),
            operator: "hub".into(),
            control: false,
        },
    )
    .await
    .unwrap();
    sb.seed("acc-1", "EUR", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let journal_file = dir.path().join("hub.db");
    let config_file = dir.path().join("hub.toml");
    let log_file = dir.path().join("hub.log");
    let provider = hmac_provider(
        PROVIDER,
        sb.addr(),
        "[providers.sb.health]\ninterval = \"200ms\"",
    )
    .replace(SECRET, PROVIDER_SECRET);
    assert!(provider.contains(PROVIDER_SECRET));
    let md5 = sandbox_form_md5::Sandbox::start_local(sandbox_form_md5::SandboxConfig {
        secret: MD5_SECRET.into(),
        provider_id: "hub".into(),
        control: false,
    })
    .await
    .unwrap();
    md5.seed("acc-1", "EUR", 100_000);
    let issuer = jwt::Issuer::new();
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, issuer.jwks()).unwrap();
    std::fs::write(
        &config_file,
        format!(
            "[journal]\npath = \"{}\"\n{provider}\n\
             [providers.md5]\ndialect = \"form-md5\"\nbase_url = \"{}\"\nsecret = \"{MD5_SECRET}\"\nprovider_id = \"hub\"\n\
             [providers.md5.health]\ninterval = \"200ms\"\n\
             [auth.jwt]\njwks_file = \"{}\"\nissuer = \"https://issuer.test\"\naudience = \"hub\"\n\
             [partners.p1]\nproviders = [\"{PROVIDER}\", \"md5\"]\nauth_methods = [\"api_key\", \"jwt\"]\njwt_subjects = [\"client-1\"]\n\
             [operators.ops]\n",
            journal_file.display(),
            md5.base_url(),
            jwks_file.display(),
        ),
    )
    .unwrap();
    let key = {
        let j = hub::journal::SqliteJournal::open(&journal_file).unwrap();
        let k = hub::auth::generate_key(&hub::domain::PartnerId::parse("p1").unwrap(), "t", 0);
        hub::journal::Journal::insert_key(&j, k.record)
            .await
            .unwrap();
        k.key
    };
    let operator_key = {
        let j = hub::journal::SqliteJournal::open(&journal_file).unwrap();
        let k = hub::operators::generate_operator_key("ops", "t", 0).unwrap();
        hub::journal::Journal::insert_key(&j, k.record)
            .await
            .unwrap();
        k.key
    };
    // hk_<16 hex id>_<secret>
    let (key_id, key_secret) = key
        .strip_prefix("hk_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, s)| (id.to_owned(), s.to_owned()))
        .expect("hk_<id>_<secret>");
    assert_eq!(key_id.len(), 16);
    // A key of the right shape, with the real id and a wrong secret.
    let wrong_secret: String = key_secret
        .chars()
        .rev()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let wrong_key = format!("hk_{key_id}_{wrong_secret}");

    let process = traced_process(&config_file, &log_file, json).await;
    let mut c = client_at(process.addr, &key).await;
    let mut first = tonic::Request::new(debit("scan-1", "acc-1", 500));
    first
        .metadata_mut()
        .insert("x-request-id", "iso-req-1".parse().unwrap());
    let tx = debited(&mut c, first).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    c.credit(credit("scan-2", "acc-1", 100)).await.unwrap();
    c.get_balance(pb::GetBalanceRequest {
        provider: PROVIDER.into(),
        account: "acc-1".into(),
        currency_code: "EUR".into(),
    })
    .await
    .unwrap();
    let err = client_at(process.addr, "not-a-key")
        .await
        .debit(debit("scan-3", "acc-1", 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = client_at(process.addr, &wrong_key)
        .await
        .debit(debit("scan-4", "acc-1", 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // A debit at the form-md5 provider, whose requests carry an MD5 of
    // the secret and the fields.
    let mut at_md5 = debit("scan-md5", "acc-1", 300);
    at_md5.provider = "md5".into();
    let tx = debited(&mut c, at_md5).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);

    // The same partner with a bearer token: a debit and a read.
    let token = issuer.token("client-1", "settlement:move settlement:read", 300);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", process.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let mut with_token = pb::settlement_service_client::SettlementServiceClient::with_interceptor(
        channel.clone(),
        move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", bearer.clone());
            Ok(req)
        },
    );
    with_token
        .debit(debit("scan-jwt", "acc-1", 200))
        .await
        .unwrap();
    with_token
        .get_transaction(by_key("scan-jwt"))
        .await
        .unwrap();

    // The operator creates a key for p1 through admin.v1: the new key is
    // in the answer and must be nowhere else.
    let op = operator_key.clone();
    let mut admin =
        hub_proto::admin::v1::admin_service_client::AdminServiceClient::with_interceptor(
            channel,
            move |mut req: tonic::Request<()>| {
                req.metadata_mut().insert("x-api-key", op.parse().unwrap());
                Ok(req)
            },
        );
    let created = admin
        .create_api_key(hub_proto::admin::v1::CreateApiKeyRequest {
            partner: "p1".into(),
            label: "scan".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .api_key;
    assert!(created.starts_with("hk_"));
    client_at(process.addr, &created)
        .await
        .get_transaction(by_key("scan-1"))
        .await
        .unwrap();

    // Let a health probe or two run, then stop the hub.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(process);
    assert_eq!(sb.money_requests(), 3);
    assert_eq!(md5.money_requests(), 1);
    let token_signature = token.rsplit('.').next().unwrap().to_owned();

    let log = std::fs::read_to_string(&log_file).unwrap();
    let secrets = vec![
        ("provider secret", PROVIDER_SECRET.to_owned()),
        ("API key", key),
        ("API key secret", key_secret),
        ("wrong API key", wrong_key),
        ("wrong API key secret", wrong_secret),
        ("form-md5 provider secret", MD5_SECRET.to_owned()),
        ("bearer token", token),
        ("bearer token signature", token_signature),
        ("operator key", operator_key),
        ("API key created through admin.v1", created),
    ];
    (log, secrets)
}

async fn assert_no_secret_in_trace_logs(json: bool) {
    let (log, secrets) = traced_run(json).await;
    // The run did log at TRACE: the calls and the provider traffic show.
    assert!(log.contains("TRACE"), "TRACE logging on");
    assert!(
        log.contains("scan-1") || log.contains("Debit"),
        "the calls show"
    );
    let secrets: Vec<(&str, &str)> = secrets.iter().map(|(n, s)| (*n, s.as_str())).collect();
    let found = leaked(&log, &secrets);
    if !found.is_empty() {
        for (name, secret) in &secrets {
            if found.contains(name) {
                for line in log.lines().filter(|l| l.contains(secret)).take(3) {
                    eprintln!("{name} in: {line}");
                }
            }
        }
    }
    assert!(found.is_empty(), "secrets in the TRACE logs: {found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_configured_secret_appears_in_trace_logs() {
    assert_no_secret_in_trace_logs(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_configured_secret_appears_in_json_trace_logs() {
    assert_no_secret_in_trace_logs(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_log_line_of_a_call_carries_its_request_id() {
    let (log, _) = traced_run(true).await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // The request id of a line: its innermost `rpc` span's field.
    let request_id = |line: &serde_json::Value| {
        line["spans"]
            .as_array()?
            .iter()
            .rev()
            .find(|s| s["name"] == "rpc")
            .and_then(|s| s["request_id"].as_str().map(str::to_owned))
    };
    let of_call: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| request_id(l).as_deref() == Some("iso-req-1"))
        .collect();
    let targets: std::collections::BTreeSet<&str> = of_call
        .iter()
        .filter_map(|l| l["target"].as_str())
        .collect();
    // The partner's id is on the call's lines, the detached money path's
    // (the provider exchange) included.
    assert!(of_call.len() >= 3, "{targets:?}");
    assert!(
        targets
            .iter()
            .any(|t| t.starts_with("hyper") || t.starts_with("adapter")),
        "no provider-side line carries the request id: {targets:?}"
    );
    // Every other call got an id of its own.
    let ids: std::collections::BTreeSet<String> = lines.iter().filter_map(request_id).collect();
    assert!(ids.len() >= 5, "{ids:?}");
}

#[test]
fn the_secrets_scan_catches_a_planted_leak() {
    let secrets = [
        ("provider secret", PROVIDER_SECRET),
        (
            "API key secret",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ];
    let clean = "2024-01-01T00:00:00Z TRACE hub::engine: debit sent provider=sb\n";
    assert!(leaked(clean, &secrets).is_empty());
    let planted = format!(
        "{clean}2024-01-01T00:00:01Z DEBUG adapter_json_hmac: signing with key={PROVIDER_SECRET}\n"
    );
    assert_eq!(leaked(&planted, &secrets), vec!["provider secret"]);
    let planted = format!(
        "{clean}{{\"fields\":{{\"x-api-key\":\"hk_0011223344556677_{}\"}}}}\n",
        secrets[1].1
    );
    assert_eq!(leaked(&planted, &secrets), vec!["API key secret"]);
}
