//! Tests of the SQLite journal through the [`Journal`] trait: idempotency,
//! the transaction life, the rollback rules, the change feed, group commit
//! and durability across a restart. Most scenarios run on both an in-memory
//! and a file journal.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use adapter_api::{Currency, DeclineReason, Money};
use tokio::task::JoinSet;

use super::*;
use crate::domain::{
    Account, Fingerprint, IdempotencyKey, PartnerId, ProviderId, Reference, TransactionId, TxKind,
    TxRecord, TxState,
};

// ---- helpers -----------------------------------------------------------

const P: &str = "acme";
const Q: &str = "globex";
const HMAC: &str = "json-hmac";
const RSA: &str = "json-rsa";
const T0: i64 = 1_700_000_000_000_000;
const T1: i64 = T0 + 1_000;
const T2: i64 = T0 + 2_000;
const T3: i64 = T0 + 3_000;
/// A limit that takes every row.
const ALL: usize = 10_000;

fn pid(s: &str) -> PartnerId {
    PartnerId::parse(s).unwrap()
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::parse(s).unwrap()
}

fn prov(s: &str) -> ProviderId {
    ProviderId::parse(s).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(Currency::from_code("EUR").unwrap(), minor)
}

fn id_of(partner: &str, k: &str) -> TransactionId {
    TransactionId::derive(&pid(partner), &key(k))
}

/// A debit or credit; the fingerprint covers every field that moves money.
fn transfer(
    partner: &str,
    k: &str,
    kind: TxKind,
    provider: &str,
    minor: i64,
    now_us: i64,
) -> Intent {
    let account = Account::parse("player-1@site").unwrap();
    let fingerprint = Fingerprint::of(&[
        &kind.code().to_be_bytes(),
        provider.as_bytes(),
        account.as_str().as_bytes(),
        &minor.to_be_bytes(),
        b"EUR",
        b"round-1",
    ]);
    Intent {
        partner: pid(partner),
        key: key(k),
        kind,
        provider: prov(provider),
        account,
        amount: eur(minor),
        reference: Some(Reference::parse("round-1").unwrap()),
        fingerprint,
        now_us,
        daily_limit: None,
    }
}

fn debit(partner: &str, k: &str, minor: i64) -> Intent {
    transfer(partner, k, TxKind::Debit, HMAC, minor, T0)
}

fn credit(partner: &str, k: &str, minor: i64) -> Intent {
    transfer(partner, k, TxKind::Credit, HMAC, minor, T0)
}

fn at(mut intent: Intent, now_us: i64) -> Intent {
    intent.now_us = now_us;
    intent
}

fn reversal(partner: &str, k: &str, target: RollbackTarget, now_us: i64) -> RollbackIntent {
    let fingerprint = match &target {
        RollbackTarget::Id(id) => Fingerprint::of(&[b"rollback", b"id", id.as_str().as_bytes()]),
        RollbackTarget::Key(k, p) => Fingerprint::of(&[
            b"rollback",
            b"key",
            k.as_str().as_bytes(),
            p.as_ref().map_or(&b""[..], |p| p.as_str().as_bytes()),
        ]),
    };
    RollbackIntent {
        partner: pid(partner),
        key: key(k),
        target,
        fingerprint,
        now_us,
    }
}

fn rollback_id(partner: &str, k: &str, id: &TransactionId) -> RollbackIntent {
    reversal(partner, k, RollbackTarget::Id(id.clone()), T1)
}

fn rollback_key(partner: &str, k: &str, debit_key: &str, provider: Option<&str>) -> RollbackIntent {
    reversal(
        partner,
        k,
        RollbackTarget::Key(key(debit_key), provider.map(prov)),
        T1,
    )
}

fn settled_result(balance: Option<i64>, provider_ref: Option<&str>) -> Recorded {
    Recorded::Settled {
        balance_after: balance.map(eur),
        provider_ref: provider_ref.map(str::to_owned),
    }
}

fn memory() -> SqliteJournal {
    SqliteJournal::in_memory().unwrap()
}

fn on_file() -> (tempfile::TempDir, SqliteJournal) {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(&dir.path().join("journal.db")).unwrap();
    (dir, j)
}

fn started(b: Begin) -> TxRecord {
    match b {
        Begin::Started(t) => t,
        other => panic!("expected Started, got {other:?}"),
    }
}

fn existing(b: Begin) -> TxRecord {
    match b {
        Begin::Existing(t) => t,
        other => panic!("expected Existing, got {other:?}"),
    }
}

fn conflict(b: Begin) -> TxRecord {
    match b {
        Begin::Conflict(t) => t,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

fn tombstoned(b: Begin) -> TxRecord {
    match b {
        Begin::Tombstoned(t) => t,
        other => panic!("expected Tombstoned, got {other:?}"),
    }
}

fn rb_started(b: RollbackBegin) -> (TxRecord, TxRecord) {
    match b {
        RollbackBegin::Started { rollback, original } => (rollback, *original),
        other => panic!("expected Started, got {other:?}"),
    }
}

fn rb_existing(b: RollbackBegin) -> TxRecord {
    match b {
        RollbackBegin::Existing(t) => t,
        other => panic!("expected Existing, got {other:?}"),
    }
}

fn rb_closed(b: RollbackBegin) -> TxRecord {
    match b {
        RollbackBegin::Closed(t) => t,
        other => panic!("expected Closed, got {other:?}"),
    }
}

fn rb_conflict(b: RollbackBegin) -> TxRecord {
    match b {
        RollbackBegin::Conflict(t) => t,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

async fn get_key(j: &dyn Journal, partner: &str, k: &str) -> Option<TxRecord> {
    j.get(&pid(partner), &Lookup::Key(key(k))).await.unwrap()
}

async fn get_id(j: &dyn Journal, partner: &str, id: &TransactionId) -> Option<TxRecord> {
    j.get(&pid(partner), &Lookup::Id(id.clone())).await.unwrap()
}

async fn all_changes(j: &dyn Journal, partner: &str) -> Vec<Change> {
    j.changes(&pid(partner), None, 0, ALL).await.unwrap()
}

async fn all_rows(j: &dyn Journal, partner: &str) -> Vec<TxRecord> {
    j.list(&pid(partner), &ListFilter::default(), 0, ALL)
        .await
        .unwrap()
}

/// A debit of `minor` under `k`, settled at T1.
async fn settled_debit(j: &dyn Journal, partner: &str, k: &str, minor: i64) -> TxRecord {
    let d = started(j.begin(debit(partner, k, minor)).await.unwrap());
    j.record(&d.id, settled_result(Some(5_000), Some("prov-ref")), T1)
        .await
        .unwrap()
}

/// A debit under `k` whose first attempt recorded `result` at T1.
async fn debit_with(j: &dyn Journal, partner: &str, k: &str, result: Recorded) -> TxRecord {
    let d = started(j.begin(debit(partner, k, 1_000)).await.unwrap());
    j.record(&d.id, result, T1).await.unwrap()
}

/// Runs each named scenario `async fn name(j: &dyn Journal)` against an
/// in-memory and a file journal.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let j = super::memory();
                    super::$name(&j).await;
                }
            )*
        }
        mod on_file {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, j) = super::on_file();
                    super::$name(&j).await;
                }
            )*
        }
    };
}

on_both_backends!(
    time_range_pages_in_creation_order,
    begin_new_intent_is_started_and_sent,
    begin_same_request_replays,
    begin_other_request_with_same_key_conflicts,
    begin_keys_are_scoped_per_partner,
    failed_attempt_runs_again,
    record_stores_outcomes,
    record_on_closed_transaction_is_ignored,
    rollback_of_settled_debit_reverses_it,
    rollback_of_pending_debit_starts,
    failed_rollback_runs_again,
    rollback_of_credit_is_not_reversible,
    rollback_target_not_found,
    rollback_by_unknown_key_needs_provider,
    rollback_by_unknown_key_tombstones,
    rollback_of_declined_debit_closes,
    rollback_of_failed_debit_closes_and_blocks_rerun,
    rollback_of_sent_debit_waits,
    rollback_with_key_of_other_call_conflicts,
    settled_rollback_closes_debit_that_failed_meanwhile,
    debit_with_rollback_in_flight_does_not_run_again,
    rollback_naming_its_own_key_stores_nothing,
    park_in_flight_moves_sent_to_pending,
    get_is_partner_scoped,
    list_pages_and_filters,
    changes_feed_is_complete_and_resumable,
    subscribe_sees_only_later_changes,
    api_keys_lifecycle,
);

// ---- begin and record --------------------------------------------------

async fn begin_new_intent_is_started_and_sent(j: &dyn Journal) {
    let intent = debit(P, "d1", 1_000);
    let tx = started(j.begin(intent.clone()).await.unwrap());
    assert_eq!(tx.state, TxState::Sent);
    assert_eq!(tx.kind, TxKind::Debit);
    assert_eq!(tx.id, id_of(P, "d1"));
    assert_eq!(tx.partner, pid(P));
    assert_eq!(tx.key, key("d1"));
    assert_eq!(tx.provider, prov(HMAC));
    assert_eq!(tx.account, "player-1@site");
    assert_eq!(tx.amount, Some(eur(1_000)));
    assert_eq!(tx.reference.as_deref(), Some("round-1"));
    assert_eq!(tx.reverses, None);
    assert_eq!(tx.decline_reason, None);
    assert_eq!(tx.balance_after, None);
    assert_eq!(tx.provider_ref, None);
    assert_eq!((tx.created_us, tx.updated_us), (T0, T0));
    assert!(!tx.tombstone);
    assert!(tx.seq > 0);

    assert_eq!(get_key(j, P, "d1").await, Some(tx.clone()));
    let changes = all_changes(j, P).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].tx, tx);
}

async fn begin_same_request_replays(j: &dyn Journal) {
    let first = started(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    // Later, same request: the record as it was, untouched.
    let again = existing(j.begin(at(debit(P, "d1", 1_000), T2)).await.unwrap());
    assert_eq!(again, first);
    // Still a replay once an outcome is recorded, with the current state.
    let pending = j.record(&first.id, Recorded::Pending, T1).await.unwrap();
    let again = existing(j.begin(at(debit(P, "d1", 1_000), T3)).await.unwrap());
    assert_eq!(again, pending);
    assert_eq!(again.state, TxState::Pending);
    assert_eq!(all_changes(j, P).await.len(), 2);
    assert_eq!(all_rows(j, P).await.len(), 1);
}

async fn begin_other_request_with_same_key_conflicts(j: &dyn Journal) {
    let first = started(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    assert_eq!(
        conflict(j.begin(debit(P, "d1", 2_000)).await.unwrap()),
        first
    );
    assert_eq!(
        conflict(j.begin(credit(P, "d1", 1_000)).await.unwrap()),
        first
    );
    let other_provider = transfer(P, "d1", TxKind::Debit, RSA, 1_000, T0);
    assert_eq!(conflict(j.begin(other_provider).await.unwrap()), first);
    // Nothing changed.
    assert_eq!(get_key(j, P, "d1").await, Some(first.clone()));
    assert_eq!(all_changes(j, P).await.len(), 1);

    // Also after the first one failed: a different request never re-runs it.
    let failed = j.record(&first.id, Recorded::Failed, T1).await.unwrap();
    assert_eq!(
        conflict(j.begin(debit(P, "d1", 2_000)).await.unwrap()),
        failed
    );
    assert_eq!(get_key(j, P, "d1").await.unwrap().state, TxState::Failed);
    assert_eq!(all_changes(j, P).await.len(), 2);
}

async fn begin_keys_are_scoped_per_partner(j: &dyn Journal) {
    let a = started(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    // Another partner's same key with another request is its own call.
    let b = started(j.begin(debit(Q, "d1", 2_000)).await.unwrap());
    assert_ne!(a.id, b.id);
    assert_eq!(b.partner, pid(Q));
    assert_eq!(get_key(j, P, "d1").await, Some(a));
    assert_eq!(get_key(j, Q, "d1").await, Some(b));
}

async fn failed_attempt_runs_again(j: &dyn Journal) {
    let first = started(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    let failed = j.record(&first.id, Recorded::Failed, T1).await.unwrap();
    assert_eq!(failed.state, TxState::Failed);
    assert_eq!(failed.updated_us, T1);

    let rerun = started(j.begin(at(debit(P, "d1", 1_000), T2)).await.unwrap());
    assert_eq!(rerun.state, TxState::Sent);
    assert_eq!(rerun.id, first.id);
    assert_eq!(rerun.seq, first.seq);
    assert_eq!(rerun.created_us, T0);
    assert_eq!(rerun.updated_us, T2);

    // The new attempt is visible as its own event.
    let changes = all_changes(j, P).await;
    let states: Vec<_> = changes.iter().map(|c| c.tx.state).collect();
    assert_eq!(states, [TxState::Sent, TxState::Failed, TxState::Sent]);
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(changes[2].tx, rerun);

    let done = j
        .record(&first.id, settled_result(None, None), T3)
        .await
        .unwrap();
    assert_eq!(done.state, TxState::Settled);
    assert_eq!(
        existing(j.begin(debit(P, "d1", 1_000)).await.unwrap()),
        done
    );
}

async fn record_stores_outcomes(j: &dyn Journal) {
    let a = started(j.begin(debit(P, "a", 1_000)).await.unwrap());
    let settled = j
        .record(&a.id, settled_result(Some(9_000), Some("prov-a")), T1)
        .await
        .unwrap();
    assert_eq!(settled.state, TxState::Settled);
    assert_eq!(settled.balance_after, Some(eur(9_000)));
    assert_eq!(settled.provider_ref.as_deref(), Some("prov-a"));
    assert_eq!(settled.decline_reason, None);
    assert_eq!(settled.updated_us, T1);
    assert_eq!(settled.created_us, T0);
    assert_eq!(get_id(j, P, &a.id).await, Some(settled));

    let b = started(j.begin(debit(P, "b", 1_000)).await.unwrap());
    let declined = j
        .record(
            &b.id,
            Recorded::Declined(DeclineReason::InsufficientFunds),
            T1,
        )
        .await
        .unwrap();
    assert_eq!(declined.state, TxState::Declined);
    assert_eq!(
        declined.decline_reason,
        Some(DeclineReason::InsufficientFunds)
    );
    assert_eq!(declined.balance_after, None);
    assert_eq!(get_id(j, P, &b.id).await, Some(declined));

    // PENDING, then resolved.
    let c = started(j.begin(debit(P, "c", 1_000)).await.unwrap());
    let pending = j.record(&c.id, Recorded::Pending, T1).await.unwrap();
    assert_eq!(pending.state, TxState::Pending);
    assert_eq!(get_id(j, P, &c.id).await, Some(pending));
    let resolved = j
        .record(&c.id, settled_result(None, Some("prov-c")), T2)
        .await
        .unwrap();
    assert_eq!(resolved.state, TxState::Settled);
    assert_eq!(resolved.provider_ref.as_deref(), Some("prov-c"));
    assert_eq!(resolved.balance_after, None);
    assert_eq!(resolved.updated_us, T2);

    // A settled credit is SETTLED, not ROLLED_BACK.
    let d = started(j.begin(credit(P, "d", 700)).await.unwrap());
    let credited = j
        .record(&d.id, settled_result(Some(9_700), None), T1)
        .await
        .unwrap();
    assert_eq!(credited.state, TxState::Settled);
    assert_eq!(credited.kind, TxKind::Credit);
    assert_eq!(credited.balance_after, Some(eur(9_700)));
}

async fn record_on_closed_transaction_is_ignored(j: &dyn Journal) {
    let settled = settled_debit(j, P, "s", 1_000).await;
    let declined = debit_with(j, P, "x", Recorded::Declined(DeclineReason::AccountBlocked)).await;
    let before = all_changes(j, P).await.len();
    let late = [
        Recorded::Declined(DeclineReason::LimitExceeded),
        Recorded::Failed,
        Recorded::Pending,
        settled_result(Some(1), Some("other-ref")),
    ];
    for closed in [&settled, &declined] {
        for result in late.clone() {
            let got = j.record(&closed.id, result, T3).await.unwrap();
            assert_eq!(&got, closed);
            assert_eq!(get_id(j, P, &closed.id).await.as_ref(), Some(closed));
        }
    }
    assert_eq!(all_changes(j, P).await.len(), before);
}

// ---- concurrency and group commit --------------------------------------

async fn one_of_many_concurrent_begins_starts(j: Arc<dyn Journal>) {
    let mut set = JoinSet::new();
    for i in 0..50 {
        let j = j.clone();
        set.spawn(async move { j.begin(at(debit(P, "same", 1_000), T0 + i)).await });
    }
    let (mut started_n, mut existing_n) = (0, 0);
    while let Some(res) = set.join_next().await {
        match res.unwrap().unwrap() {
            Begin::Started(t) => {
                started_n += 1;
                assert_eq!(t.id, id_of(P, "same"));
            }
            Begin::Existing(t) => {
                existing_n += 1;
                assert_eq!(t.id, id_of(P, "same"));
                assert_eq!(t.state, TxState::Sent);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((started_n, existing_n), (1, 49));
    assert_eq!(all_rows(&*j, P).await.len(), 1);
    assert_eq!(all_changes(&*j, P).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_begins_with_one_key_start_once_in_memory() {
    one_of_many_concurrent_begins_starts(Arc::new(memory())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_begins_with_one_key_start_once_on_file() {
    let (_dir, j) = on_file();
    one_of_many_concurrent_begins_starts(Arc::new(j)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_writes() {
    let (_dir, j) = on_file();
    assert_eq!(j.stats(), JournalStats::default());
    let j = Arc::new(j);
    let mut set = JoinSet::new();
    for i in 0..200 {
        let j = j.clone();
        set.spawn(async move { j.begin(debit(P, &format!("k{i}"), 100 + i)).await });
    }
    while let Some(res) = set.join_next().await {
        started(res.unwrap().unwrap());
    }
    let stats = j.stats();
    assert!(stats.writes >= 200, "{stats:?}");
    assert!(stats.commits >= 1, "{stats:?}");
    assert!(stats.commits < stats.writes, "no batching: {stats:?}");
    // Measurably: at least two writes per commit on average (typically one
    // or two commits take all 200).
    assert!(
        stats.commits * 2 <= stats.writes,
        "little batching: {stats:?}"
    );
    assert_eq!(all_rows(&*j, P).await.len(), 200);
    assert_eq!(all_changes(&*j, P).await.len(), 200);
}

/// A write that fails inside a batch rolls back alone: the others in the
/// same commit stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_write_in_a_batch_does_not_spoil_the_others() {
    let (_dir, j) = on_file();
    let j = Arc::new(j);
    let record = ApiKeyRecord {
        id: "dup".into(),
        partner: pid(P),
        hash: [7; 32],
        label: "first".into(),
        created_us: T0,
        revoked_us: None,
    };
    j.insert_key(record.clone()).await.unwrap();
    let mut set = JoinSet::new();
    for i in 0..40 {
        let j = j.clone();
        let mut dup = record.clone();
        dup.label = format!("dup {i}");
        set.spawn(async move {
            let begun = j.begin(debit(P, &format!("k{i}"), 100)).await;
            let duplicate = j.insert_key(dup).await;
            (begun, duplicate)
        });
    }
    while let Some(res) = set.join_next().await {
        let (begun, duplicate) = res.unwrap();
        started(begun.unwrap());
        assert!(matches!(duplicate, Err(JournalError::Storage(_))));
    }
    assert_eq!(j.find_key("dup").await.unwrap(), Some(record));
    assert_eq!(all_rows(&*j, P).await.len(), 40);
    // Failed writes are still counted as applied in their batch's commit.
    let stats = j.stats();
    assert!(stats.writes >= 81, "{stats:?}");
    assert!(stats.commits < stats.writes, "no batching: {stats:?}");
}

// ---- rollback ----------------------------------------------------------

async fn rollback_of_settled_debit_reverses_it(j: &dyn Journal) {
    let d = settled_debit(j, P, "d1", 1_000).await;
    let (rb, original) = rb_started(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap());
    assert_eq!(original, d);
    assert_eq!(rb.kind, TxKind::Rollback);
    assert_eq!(rb.state, TxState::Sent);
    assert_eq!(rb.id, id_of(P, "r1"));
    assert_eq!(rb.key, key("r1"));
    assert_eq!(rb.reverses, Some(d.id.clone()));
    assert_eq!(rb.provider, d.provider);
    assert_eq!(rb.account, d.account);
    assert_eq!(rb.amount, d.amount);
    assert!(!rb.tombstone);
    assert_eq!(get_key(j, P, "r1").await, Some(rb.clone()));

    // While it is in flight, any rollback of that debit replays it.
    assert_eq!(
        rb_existing(j.begin_rollback(rollback_id(P, "r2", &d.id)).await.unwrap()),
        rb
    );
    assert_eq!(
        rb_existing(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap()),
        rb
    );

    let done = j
        .record(&rb.id, settled_result(Some(6_000), Some("rev-1")), T2)
        .await
        .unwrap();
    assert_eq!(done.state, TxState::RolledBack);
    assert_eq!(done.provider_ref.as_deref(), Some("rev-1"));
    assert_eq!(done.balance_after, Some(eur(6_000)));
    let reversed = get_id(j, P, &d.id).await.unwrap();
    assert_eq!(reversed.state, TxState::RolledBack);
    assert_eq!(reversed.updated_us, T2);
    // The debit keeps its own outcome fields.
    assert_eq!(reversed.provider_ref.as_deref(), Some("prov-ref"));

    let changes_before = all_changes(j, P).await.len();
    // One effective rollback per debit, whatever key.
    assert_eq!(
        rb_existing(j.begin_rollback(rollback_id(P, "r2", &d.id)).await.unwrap()),
        done
    );
    assert_eq!(get_key(j, P, "r2").await, None);
    assert_eq!(
        rb_existing(
            j.begin_rollback(rollback_key(P, "r3", "d1", None))
                .await
                .unwrap()
        ),
        done
    );
    // Replay of the same rollback.
    assert_eq!(
        rb_existing(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap()),
        done
    );
    // The debit itself replays as ROLLED_BACK.
    assert_eq!(
        existing(j.begin(debit(P, "d1", 1_000)).await.unwrap()),
        reversed
    );
    assert_eq!(all_changes(j, P).await.len(), changes_before);
}

async fn rollback_of_pending_debit_starts(j: &dyn Journal) {
    let d = debit_with(j, P, "d1", Recorded::Pending).await;
    // Named by the debit's key this time.
    let (rb, original) = rb_started(
        j.begin_rollback(rollback_key(P, "r1", "d1", Some(HMAC)))
            .await
            .unwrap(),
    );
    assert_eq!(original, d);
    assert_eq!(rb.reverses, Some(d.id.clone()));
    j.record(&rb.id, settled_result(None, None), T2)
        .await
        .unwrap();
    assert_eq!(
        get_id(j, P, &d.id).await.unwrap().state,
        TxState::RolledBack
    );
    // No tombstone was made for a known key.
    assert!(!get_id(j, P, &d.id).await.unwrap().tombstone);
}

async fn failed_rollback_runs_again(j: &dyn Journal) {
    let d = settled_debit(j, P, "d1", 1_000).await;
    let (rb, _) = rb_started(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap());
    let failed = j.record(&rb.id, Recorded::Failed, T2).await.unwrap();
    assert_eq!(failed.state, TxState::Failed);
    assert_eq!(get_id(j, P, &d.id).await, Some(d.clone()));

    let mut again = rollback_id(P, "r1", &d.id);
    again.now_us = T3;
    let (rerun, original) = rb_started(j.begin_rollback(again).await.unwrap());
    assert_eq!(original, d);
    assert_eq!(rerun.id, rb.id);
    assert_eq!(rerun.seq, rb.seq);
    assert_eq!(rerun.state, TxState::Sent);
    assert_eq!(rerun.updated_us, T3);
}

async fn rollback_of_credit_is_not_reversible(j: &dyn Journal) {
    let c = started(j.begin(credit(P, "c1", 1_000)).await.unwrap());
    let c = j
        .record(&c.id, settled_result(None, None), T1)
        .await
        .unwrap();
    match j.begin_rollback(rollback_id(P, "r1", &c.id)).await.unwrap() {
        RollbackBegin::NotReversible(t) => assert_eq!(t, c),
        other => panic!("expected NotReversible, got {other:?}"),
    }
    match j
        .begin_rollback(rollback_key(P, "r1", "c1", Some(HMAC)))
        .await
        .unwrap()
    {
        RollbackBegin::NotReversible(t) => assert_eq!(t, c),
        other => panic!("expected NotReversible, got {other:?}"),
    }
    assert_eq!(get_key(j, P, "r1").await, None);
    assert_eq!(get_id(j, P, &c.id).await, Some(c));

    // Nor is a rollback itself.
    let d = settled_debit(j, P, "d1", 1_000).await;
    let (rb, _) = rb_started(j.begin_rollback(rollback_id(P, "r2", &d.id)).await.unwrap());
    assert!(matches!(
        j.begin_rollback(rollback_id(P, "r3", &rb.id)).await.unwrap(),
        RollbackBegin::NotReversible(t) if t == rb
    ));
    assert_eq!(get_key(j, P, "r3").await, None);
}

async fn rollback_target_not_found(j: &dyn Journal) {
    let unknown = id_of(P, "never");
    assert!(matches!(
        j.begin_rollback(rollback_id(P, "r1", &unknown))
            .await
            .unwrap(),
        RollbackBegin::NotFound
    ));
    // Another partner's transaction is not found either, and stays as is.
    let d = settled_debit(j, P, "d1", 1_000).await;
    assert!(matches!(
        j.begin_rollback(rollback_id(Q, "r1", &d.id)).await.unwrap(),
        RollbackBegin::NotFound
    ));
    assert_eq!(get_id(j, P, &d.id).await, Some(d.clone()));
    assert_eq!(get_key(j, Q, "r1").await, None);
    assert_eq!(get_key(j, P, "r1").await, None);
    assert!(all_changes(j, Q).await.is_empty());

    // By key, the other partner's debit key is simply unknown to Q: Q's
    // tombstone does not touch P's debit.
    let rb = rb_closed(
        j.begin_rollback(rollback_key(Q, "r1", "d1", Some(HMAC)))
            .await
            .unwrap(),
    );
    assert_eq!(rb.partner, pid(Q));
    assert_eq!(rb.reverses, Some(id_of(Q, "d1")));
    assert_eq!(get_id(j, P, &d.id).await, Some(d));
}

async fn rollback_by_unknown_key_needs_provider(j: &dyn Journal) {
    assert!(matches!(
        j.begin_rollback(rollback_key(P, "r1", "late", None))
            .await
            .unwrap(),
        RollbackBegin::ProviderRequired
    ));
    assert_eq!(get_key(j, P, "late").await, None);
    assert_eq!(get_key(j, P, "r1").await, None);
    assert!(all_changes(j, P).await.is_empty());
    // The debit can still run.
    started(j.begin(debit(P, "late", 1_000)).await.unwrap());
}

async fn rollback_by_unknown_key_tombstones(j: &dyn Journal) {
    let rb = rb_closed(
        j.begin_rollback(rollback_key(P, "r1", "late", Some(RSA)))
            .await
            .unwrap(),
    );
    assert_eq!(rb.kind, TxKind::Rollback);
    assert_eq!(rb.state, TxState::RolledBack);
    assert_eq!(rb.id, id_of(P, "r1"));
    assert_eq!(rb.reverses, Some(id_of(P, "late")));
    assert_eq!(rb.provider, prov(RSA));
    assert_eq!(rb.amount, None);
    assert!(!rb.tombstone);

    let tomb = get_key(j, P, "late").await.unwrap();
    assert_eq!(tomb.id, id_of(P, "late"));
    assert_eq!(tomb.kind, TxKind::Debit);
    assert_eq!(tomb.state, TxState::RolledBack);
    assert!(tomb.tombstone);
    assert_eq!(tomb.provider, prov(RSA));
    assert_eq!(tomb.account, "");
    assert_eq!(tomb.amount, None);
    let changes = all_changes(j, P).await;
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c.tx.state == TxState::RolledBack));

    // A late debit (or anything else) with that key is refused.
    assert_eq!(
        tombstoned(j.begin(debit(P, "late", 1_000)).await.unwrap()),
        tomb
    );
    assert_eq!(
        tombstoned(j.begin(credit(P, "late", 1_000)).await.unwrap()),
        tomb
    );
    // Repeats replay the first rollback, whatever the key and target form.
    assert_eq!(
        rb_existing(
            j.begin_rollback(rollback_key(P, "r1", "late", Some(RSA)))
                .await
                .unwrap()
        ),
        rb
    );
    assert_eq!(
        rb_existing(
            j.begin_rollback(rollback_key(P, "r2", "late", Some(HMAC)))
                .await
                .unwrap()
        ),
        rb
    );
    assert_eq!(
        rb_existing(
            j.begin_rollback(rollback_id(P, "r3", &tomb.id))
                .await
                .unwrap()
        ),
        rb
    );
    assert_eq!(get_key(j, P, "late").await, Some(tomb));
    assert_eq!(get_key(j, P, "r2").await, None);
    assert_eq!(all_changes(j, P).await.len(), 2);
}

async fn rollback_of_declined_debit_closes(j: &dyn Journal) {
    let d = debit_with(j, P, "d1", Recorded::Declined(DeclineReason::Other)).await;
    let rb = rb_closed(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap());
    assert_eq!(rb.state, TxState::RolledBack);
    assert_eq!(rb.kind, TxKind::Rollback);
    assert_eq!(rb.reverses, Some(d.id.clone()));
    assert_eq!(rb.amount, d.amount);
    // The debit stays DECLINED.
    assert_eq!(get_id(j, P, &d.id).await, Some(d.clone()));
    assert_eq!(existing(j.begin(debit(P, "d1", 1_000)).await.unwrap()), d);
    assert_eq!(
        rb_existing(j.begin_rollback(rollback_id(P, "r2", &d.id)).await.unwrap()),
        rb
    );
}

async fn rollback_of_failed_debit_closes_and_blocks_rerun(j: &dyn Journal) {
    let d = debit_with(j, P, "d1", Recorded::Failed).await;
    assert_eq!(d.state, TxState::Failed);
    let rb = rb_closed(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap());
    assert_eq!(rb.state, TxState::RolledBack);
    assert_eq!(rb.reverses, Some(d.id.clone()));
    let closed = get_id(j, P, &d.id).await.unwrap();
    assert_eq!(closed.state, TxState::RolledBack);
    assert_eq!(closed.updated_us, T1);
    // A retry of the debit is refused: replayed as ROLLED_BACK, not re-run.
    let again = existing(j.begin(at(debit(P, "d1", 1_000), T3)).await.unwrap());
    assert_eq!(again, closed);
    assert_eq!(get_id(j, P, &d.id).await, Some(closed));
}

async fn rollback_of_sent_debit_waits(j: &dyn Journal) {
    let d = started(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    match j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap() {
        RollbackBegin::OriginalInFlight(t) => assert_eq!(t, d),
        other => panic!("expected OriginalInFlight, got {other:?}"),
    }
    assert_eq!(get_key(j, P, "r1").await, None);
    assert_eq!(all_changes(j, P).await.len(), 1);
    // Once the debit has an outcome the same rollback proceeds.
    let settled = j
        .record(&d.id, settled_result(None, None), T1)
        .await
        .unwrap();
    let (_, original) = rb_started(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap());
    assert_eq!(original, settled);
}

async fn rollback_with_key_of_other_call_conflicts(j: &dyn Journal) {
    let a = settled_debit(j, P, "d1", 1_000).await;
    let b = settled_debit(j, P, "d2", 2_000).await;
    let before = all_changes(j, P).await.len();
    // The rollback's key is a debit's key.
    assert_eq!(
        rb_conflict(j.begin_rollback(rollback_id(P, "d2", &a.id)).await.unwrap()),
        b
    );
    assert_eq!(get_id(j, P, &a.id).await, Some(a.clone()));
    assert_eq!(get_id(j, P, &b.id).await, Some(b.clone()));
    assert_eq!(all_changes(j, P).await.len(), before);

    // A rollback key reused for another target.
    let (rb, _) = rb_started(j.begin_rollback(rollback_id(P, "r1", &a.id)).await.unwrap());
    assert_eq!(
        rb_conflict(j.begin_rollback(rollback_id(P, "r1", &b.id)).await.unwrap()),
        rb
    );
    assert_eq!(get_id(j, P, &b.id).await, Some(b));
    // A debit with a rollback's key conflicts too.
    assert_eq!(conflict(j.begin(debit(P, "r1", 1_000)).await.unwrap()), rb);
}

/// The debit's outcome was unknown, a rollback was sent, and meanwhile the
/// debit was resolved as never applied (FAILED). Once the rollback settles
/// the debit's key must be closed: a retry of the debit must not run again.
async fn settled_rollback_closes_debit_that_failed_meanwhile(j: &dyn Journal) {
    let d = debit_with(j, P, "d1", Recorded::Pending).await;
    let (rb, _) = rb_started(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap());
    let failed = j.record(&d.id, Recorded::Failed, T2).await.unwrap();
    assert_eq!(failed.state, TxState::Failed);
    let done = j
        .record(&rb.id, settled_result(None, None), T3)
        .await
        .unwrap();
    assert_eq!(done.state, TxState::RolledBack);
    assert_eq!(
        get_id(j, P, &d.id).await.unwrap().state,
        TxState::RolledBack
    );
    let again = j.begin(debit(P, "d1", 1_000)).await.unwrap();
    assert!(
        matches!(&again, Begin::Existing(t) if t.state == TxState::RolledBack),
        "a rolled-back debit ran again: {again:?}"
    );
}

/// Same, but the debit is retried while its rollback is still in flight:
/// the debit must not be sent again alongside its own reversal.
async fn debit_with_rollback_in_flight_does_not_run_again(j: &dyn Journal) {
    let d = debit_with(j, P, "d1", Recorded::Pending).await;
    let (rb, _) = rb_started(j.begin_rollback(rollback_id(P, "r1", &d.id)).await.unwrap());
    j.record(&d.id, Recorded::Failed, T2).await.unwrap();
    let again = j.begin(debit(P, "d1", 1_000)).await.unwrap();
    assert!(
        matches!(&again, Begin::Existing(t) if t.id == d.id),
        "a debit ran again while its rollback is in flight: {again:?}"
    );
    assert_eq!(get_id(j, P, &d.id).await.unwrap().state, TxState::Failed);
    assert_eq!(get_id(j, P, &rb.id).await.unwrap().state, TxState::Sent);
}

/// A rollback whose own key is the unknown debit key it names: the tombstone
/// and the rollback cannot share one key, so it cannot be closed. Whatever
/// the answer (today: a storage error, i.e. UNAVAILABLE; see the report),
/// nothing half-done is stored, the rest of the batch stands, and the journal
/// goes on.
async fn rollback_naming_its_own_key_stores_nothing(j: &dyn Journal) {
    let res = j
        .begin_rollback(rollback_key(P, "same", "same", Some(HMAC)))
        .await;
    assert!(
        !matches!(
            res,
            Ok(RollbackBegin::Started { .. } | RollbackBegin::Closed(_))
        ),
        "{res:?}"
    );
    assert_eq!(get_key(j, P, "same").await, None);
    assert!(all_changes(j, P).await.is_empty());
    started(j.begin(debit(P, "next", 1_000)).await.unwrap());
    assert_eq!(all_changes(j, P).await.len(), 1);
}

// ---- park, get, list ---------------------------------------------------

async fn park_in_flight_moves_sent_to_pending(j: &dyn Journal) {
    let sent = started(j.begin(debit(P, "sent", 1_000)).await.unwrap());
    let settled = settled_debit(j, P, "settled", 1_000).await;
    let (rb_sent, _) = rb_started(
        j.begin_rollback(rollback_id(P, "rb", &settled.id))
            .await
            .unwrap(),
    );
    debit_with(j, P, "pending", Recorded::Pending).await;
    debit_with(j, P, "failed", Recorded::Failed).await;
    debit_with(j, P, "declined", Recorded::Declined(DeclineReason::Other)).await;
    let other = started(j.begin(debit(Q, "sent", 1_000)).await.unwrap());
    let before_p = all_rows(j, P).await;
    let before_changes = all_changes(j, P).await.len() + all_changes(j, Q).await.len();

    assert_eq!(j.park_in_flight(T3).await.unwrap(), 3);

    let after_p = all_rows(j, P).await;
    assert_eq!(after_p.len(), before_p.len());
    for (b, a) in before_p.iter().zip(&after_p) {
        if b.id == sent.id || b.id == rb_sent.id {
            assert_eq!(a.state, TxState::Pending);
            assert_eq!(a.updated_us, T3);
            let mut expected = b.clone();
            expected.state = TxState::Pending;
            expected.updated_us = T3;
            assert_eq!(a, &expected);
        } else {
            assert_eq!(a, b);
        }
    }
    let q = get_id(j, Q, &other.id).await.unwrap();
    assert_eq!(q.state, TxState::Pending);
    let after_changes = all_changes(j, P).await.len() + all_changes(j, Q).await.len();
    assert_eq!(after_changes, before_changes + 3);

    // Nothing left to park.
    assert_eq!(j.park_in_flight(T3 + 1).await.unwrap(), 0);
    assert_eq!(all_rows(j, P).await, after_p);
}

async fn get_is_partner_scoped(j: &dyn Journal) {
    let a = started(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    assert_eq!(get_key(j, P, "d1").await, Some(a.clone()));
    assert_eq!(get_id(j, P, &a.id).await, Some(a.clone()));
    assert_eq!(get_key(j, Q, "d1").await, None);
    assert_eq!(get_id(j, Q, &a.id).await, None);
    assert_eq!(get_key(j, P, "nope").await, None);
    assert_eq!(get_id(j, P, &id_of(P, "nope")).await, None);
}

async fn list_pages_and_filters(j: &dyn Journal) {
    // Created at T0 + i, providers alternating, various outcomes.
    let outcomes = [
        Some(settled_result(None, None)),
        Some(Recorded::Declined(DeclineReason::Other)),
        None,
        Some(Recorded::Pending),
        Some(settled_result(None, None)),
        Some(Recorded::Failed),
        Some(Recorded::Declined(DeclineReason::UnknownAccount)),
    ];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let provider = if i % 2 == 0 { HMAC } else { RSA };
        let now = T0 + i as i64;
        let kind = if i == 4 {
            TxKind::Credit
        } else {
            TxKind::Debit
        };
        let tx = started(
            j.begin(transfer(P, &format!("t{i}"), kind, provider, 100, now))
                .await
                .unwrap(),
        );
        if let Some(outcome) = outcome {
            j.record(&tx.id, outcome, T3).await.unwrap();
        }
        // Another partner's rows in between.
        started(j.begin(debit(Q, &format!("t{i}"), 100)).await.unwrap());
    }
    let all = all_rows(j, P).await;
    assert_eq!(all.len(), 7);
    assert!(all.iter().all(|t| t.partner == pid(P)));
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let keys: Vec<_> = all.iter().map(|t| t.key.as_str().to_owned()).collect();
    assert_eq!(keys, ["t0", "t1", "t2", "t3", "t4", "t5", "t6"]);

    // Paging by seq covers every row once.
    for limit in [1, 2, 3, 7, 8] {
        let mut paged = Vec::new();
        let mut after = 0;
        loop {
            let page = j
                .list(&pid(P), &ListFilter::default(), after, limit)
                .await
                .unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = last.seq;
            paged.extend(page);
        }
        assert_eq!(paged, all, "limit {limit}");
    }

    let keys_of = |rows: Vec<TxRecord>| -> Vec<String> {
        rows.iter().map(|t| t.key.as_str().to_owned()).collect()
    };
    let by_provider = ListFilter {
        provider: Some(prov(RSA)),
        ..ListFilter::default()
    };
    let rows = j.list(&pid(P), &by_provider, 0, ALL).await.unwrap();
    assert_eq!(keys_of(rows), ["t1", "t3", "t5"]);

    let by_state = ListFilter {
        states: vec![TxState::Settled, TxState::Declined],
        ..ListFilter::default()
    };
    let rows = j.list(&pid(P), &by_state, 0, ALL).await.unwrap();
    assert_eq!(keys_of(rows), ["t0", "t1", "t4", "t6"]);
    let sent_only = ListFilter {
        states: vec![TxState::Sent],
        ..ListFilter::default()
    };
    let rows = j.list(&pid(P), &sent_only, 0, ALL).await.unwrap();
    assert_eq!(keys_of(rows), ["t2"]);

    // Start inclusive, end exclusive.
    let by_time = ListFilter {
        start_us: Some(T0 + 2),
        end_us: Some(T0 + 5),
        ..ListFilter::default()
    };
    let rows = j.list(&pid(P), &by_time, 0, ALL).await.unwrap();
    assert_eq!(keys_of(rows), ["t2", "t3", "t4"]);

    let combined = ListFilter {
        provider: Some(prov(HMAC)),
        states: vec![TxState::Settled, TxState::Failed, TxState::Sent],
        start_us: Some(T0 + 1),
        end_us: None,
    };
    let rows = j.list(&pid(P), &combined, 0, ALL).await.unwrap();
    assert_eq!(keys_of(rows), ["t2", "t4"]);
    // Filters and paging together.
    let first = j.list(&pid(P), &combined, 0, 1).await.unwrap();
    assert_eq!(keys_of(first.clone()), ["t2"]);
    let rest = j.list(&pid(P), &combined, first[0].seq, ALL).await.unwrap();
    assert_eq!(keys_of(rest), ["t4"]);
}

/// A time range pages in creation order, whatever order the rows reached
/// the journal in, covering every row in range once at every page size.
async fn time_range_pages_in_creation_order(j: &dyn Journal) {
    // Journal order (seq) differs from creation order: t3 was created
    // first but written last, and two rows share a creation instant.
    let created = [
        ("t0", T0 + 20),
        ("t1", T0 + 10),
        ("t2", T0 + 10),
        ("t3", T0 + 5),
    ];
    for (k, now) in created {
        started(j.begin(at(debit(P, k, 100), now)).await.unwrap());
        // Another partner's row at the same instants, never listed.
        started(j.begin(at(debit(Q, k, 100), now)).await.unwrap());
    }
    started(
        j.begin(at(debit(P, "outside", 100), T0 + 30))
            .await
            .unwrap(),
    );
    let range = ListFilter {
        start_us: Some(T0),
        end_us: Some(T0 + 30),
        ..ListFilter::default()
    };
    let keys = |rows: &[TxRecord]| -> Vec<String> {
        rows.iter().map(|t| t.key.as_str().to_owned()).collect()
    };
    let all = j.list(&pid(P), &range, 0, ALL).await.unwrap();
    // t1 and t2 share an instant: journal order breaks the tie.
    assert_eq!(keys(&all), ["t3", "t1", "t2", "t0"]);
    for limit in [1, 2, 3, 4, 5] {
        let mut paged = Vec::new();
        let mut after = 0;
        loop {
            let page = j.list(&pid(P), &range, after, limit).await.unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = last.seq;
            paged.extend(page);
        }
        assert_eq!(keys(&paged), keys(&all), "limit {limit}");
    }
    // An open-ended range is ordered the same way.
    let since = ListFilter {
        start_us: Some(T0 + 10),
        ..ListFilter::default()
    };
    let rows = j.list(&pid(P), &since, 0, ALL).await.unwrap();
    assert_eq!(keys(&rows), ["t1", "t2", "t0", "outside"]);
    // A position that is not one of this partner's rows (a token forged
    // from another partner's seq) lists nothing.
    let theirs = j.list(&pid(Q), &range, 0, 1).await.unwrap();
    let rows = j.list(&pid(P), &range, theirs[0].seq, ALL).await.unwrap();
    assert!(rows.is_empty(), "{:?}", keys(&rows));
}

// ---- change feed -------------------------------------------------------

async fn changes_feed_is_complete_and_resumable(j: &dyn Journal) {
    let mut live = j.subscribe();
    // d1: SENT, FAILED, SENT, SETTLED.
    let d1 = started(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    j.record(&d1.id, Recorded::Failed, T1).await.unwrap();
    started(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    j.record(&d1.id, settled_result(Some(4_000), Some("ref-1")), T2)
        .await
        .unwrap();
    // d2 (another provider): SENT, DECLINED.
    let d2 = started(
        j.begin(transfer(P, "d2", TxKind::Debit, RSA, 10, T0))
            .await
            .unwrap(),
    );
    j.record(&d2.id, Recorded::Declined(DeclineReason::LimitExceeded), T2)
        .await
        .unwrap();
    // Q's debit in between: not in P's feed.
    started(j.begin(debit(Q, "d1", 1_000)).await.unwrap());
    // A replay and a conflict change nothing.
    existing(j.begin(debit(P, "d1", 1_000)).await.unwrap());
    conflict(j.begin(debit(P, "d1", 5)).await.unwrap());
    // r1: SENT; settling it also moves d1 to ROLLED_BACK.
    let (rb, _) = rb_started(
        j.begin_rollback(rollback_id(P, "r1", &d1.id))
            .await
            .unwrap(),
    );
    j.record(&rb.id, settled_result(None, None), T3)
        .await
        .unwrap();

    let all = all_changes(j, P).await;
    let seen: Vec<_> = all
        .iter()
        .map(|c| (c.tx.key.as_str().to_owned(), c.tx.state))
        .collect();
    let expected: Vec<(String, TxState)> = [
        ("d1", TxState::Sent),
        ("d1", TxState::Failed),
        ("d1", TxState::Sent),
        ("d1", TxState::Settled),
        ("d2", TxState::Sent),
        ("d2", TxState::Declined),
        ("r1", TxState::Sent),
        ("r1", TxState::RolledBack),
        ("d1", TxState::RolledBack),
    ]
    .into_iter()
    .map(|(k, s)| (k.to_owned(), s))
    .collect();
    assert_eq!(seen, expected);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(all.iter().all(|c| c.tx.partner == pid(P)));
    // Each change shows the transaction as it was right after it.
    assert_eq!(all[1].tx.updated_us, T1);
    assert_eq!(all[2].tx.balance_after, None);
    assert_eq!(all[3].tx.balance_after, Some(eur(4_000)));
    assert_eq!(all[3].tx.provider_ref.as_deref(), Some("ref-1"));
    assert_eq!(all[5].tx.decline_reason, Some(DeclineReason::LimitExceeded));
    assert_eq!(all[8].tx, get_id(j, P, &d1.id).await.unwrap());

    // Resuming after any change continues without gap or duplicate.
    for i in 0..all.len() {
        let rest = j.changes(&pid(P), None, all[i].seq, ALL).await.unwrap();
        assert_eq!(rest.len(), all.len() - i - 1);
        assert!(
            rest.iter()
                .zip(&all[i + 1..])
                .all(|(a, b)| a.seq == b.seq && a.tx == b.tx)
        );
    }
    // Paging through in small pages yields the same feed.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = j.changes(&pid(P), None, after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        paged.extend(page);
    }
    assert_eq!(paged.len(), all.len());
    assert!(paged.iter().zip(&all).all(|(a, b)| a.seq == b.seq));

    // Provider filter.
    let rsa = j.changes(&pid(P), Some(&prov(RSA)), 0, ALL).await.unwrap();
    assert_eq!(rsa.len(), 2);
    assert!(rsa.iter().all(|c| c.tx.id == d2.id));

    // The live feed carried the same changes, in seq order, plus Q's.
    let mut received = Vec::new();
    while received.len() < all.len() + 1 {
        let change = tokio::time::timeout(Duration::from_secs(2), live.recv())
            .await
            .expect("live change")
            .unwrap();
        received.push(change);
    }
    assert!(received.windows(2).all(|w| w[0].seq < w[1].seq));
    let mine: Vec<_> = received
        .into_iter()
        .filter(|c| c.tx.partner == pid(P))
        .collect();
    assert_eq!(mine.len(), all.len());
    for (a, b) in mine.iter().zip(&all) {
        assert_eq!(a.seq, b.seq);
        assert_eq!(a.tx, b.tx);
    }
    assert!(live.try_recv().is_err());
}

async fn subscribe_sees_only_later_changes(j: &dyn Journal) {
    started(j.begin(debit(P, "before", 1_000)).await.unwrap());
    // A later write goes through the writer after the first one's batch
    // has been published.
    existing(j.begin(debit(P, "before", 1_000)).await.unwrap());
    let mut live = j.subscribe();
    let after = started(j.begin(debit(P, "after", 1_000)).await.unwrap());
    j.record(&after.id, Recorded::Pending, T1).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(2), live.recv())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(2), live.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.tx, after);
    assert_eq!(second.tx.id, after.id);
    assert_eq!(second.tx.state, TxState::Pending);
    assert!(first.seq < second.seq);
    assert!(live.try_recv().is_err());
}

// ---- API keys ----------------------------------------------------------

async fn api_keys_lifecycle(j: &dyn Journal) {
    let record = |id: &str, partner: &str, created_us: i64| ApiKeyRecord {
        id: id.to_owned(),
        partner: pid(partner),
        hash: [created_us as u8; 32],
        label: format!("label of {id}"),
        created_us,
        revoked_us: None,
    };
    let k1 = record("k1", P, 10);
    let k2 = record("k2", P, 30);
    let k3 = record("k3", Q, 20);
    for k in [&k1, &k2, &k3] {
        j.insert_key(k.clone()).await.unwrap();
    }
    assert_eq!(j.find_key("k1").await.unwrap(), Some(k1.clone()));
    assert_eq!(j.find_key("k3").await.unwrap(), Some(k3.clone()));
    assert_eq!(j.find_key("nope").await.unwrap(), None);
    assert_eq!(
        j.list_keys(None).await.unwrap(),
        [k1.clone(), k3.clone(), k2.clone()]
    );
    assert_eq!(
        j.list_keys(Some(&pid(P))).await.unwrap(),
        [k1.clone(), k2.clone()]
    );
    assert_eq!(j.list_keys(Some(&pid(Q))).await.unwrap(), [k3]);
    assert!(j.list_keys(Some(&pid("nobody"))).await.unwrap().is_empty());

    // The same id twice is refused; the first stays.
    let mut dup = k2.clone();
    dup.label = "other".into();
    assert!(j.insert_key(dup).await.is_err());
    assert_eq!(j.find_key("k2").await.unwrap(), Some(k2.clone()));

    assert!(!j.revoke_key("nope", 100).await.unwrap());
    assert!(j.revoke_key("k1", 100).await.unwrap());
    let revoked = j.find_key("k1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_us, Some(100));
    // Revoking again keeps the first time.
    assert!(j.revoke_key("k1", 200).await.unwrap());
    assert_eq!(
        j.find_key("k1").await.unwrap().unwrap().revoked_us,
        Some(100)
    );
    // Others untouched.
    assert_eq!(j.find_key("k2").await.unwrap(), Some(k2));
    assert_eq!(j.find_key("nope").await.unwrap(), None);
}

// ---- restart -----------------------------------------------------------

struct Snapshot {
    rows: Vec<TxRecord>,
    changes: Vec<(i64, TxRecord)>,
    keys: Vec<ApiKeyRecord>,
}

async fn snapshot(j: &dyn Journal) -> Snapshot {
    Snapshot {
        rows: all_rows(j, P).await,
        changes: all_changes(j, P)
            .await
            .into_iter()
            .map(|c| (c.seq, c.tx))
            .collect(),
        keys: j.list_keys(None).await.unwrap(),
    }
}

fn reopen(path: &Path) -> SqliteJournal {
    SqliteJournal::open(path).unwrap()
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A parent directory that does not exist yet is created.
    let path = dir.path().join("state").join("journal.db");
    let (settled, sent, before) = {
        let j = reopen(&path);
        let settled = settled_debit(&j, P, "settled", 1_000).await;
        debit_with(&j, P, "declined", Recorded::Declined(DeclineReason::Other)).await;
        debit_with(&j, P, "pending", Recorded::Pending).await;
        let sent = started(j.begin(debit(P, "sent", 1_000)).await.unwrap());
        rb_closed(
            j.begin_rollback(rollback_key(P, "r-late", "late", Some(HMAC)))
                .await
                .unwrap(),
        );
        let (rb, _) = rb_started(
            j.begin_rollback(rollback_id(P, "r-settled", &settled.id))
                .await
                .unwrap(),
        );
        j.record(&rb.id, settled_result(None, Some("rev")), T2)
            .await
            .unwrap();
        j.insert_key(ApiKeyRecord {
            id: "key-1".into(),
            partner: pid(P),
            hash: [9; 32],
            label: "ops".into(),
            created_us: T0,
            revoked_us: None,
        })
        .await
        .unwrap();
        j.revoke_key("key-1", T1).await.unwrap();
        let before = snapshot(&j).await;
        assert_eq!(before.rows.len(), 7);
        (settled, sent, before)
        // The journal drops here; its writer thread ends.
    };

    let j = reopen(&path);
    let after = snapshot(&j).await;
    assert_eq!(after.rows, before.rows);
    assert_eq!(after.changes, before.changes);
    assert_eq!(after.keys, before.keys);
    assert_eq!(after.keys[0].revoked_us, Some(T1));
    assert_eq!(j.stats(), JournalStats::default());

    // Idempotency holds across the restart.
    let replay = existing(j.begin(debit(P, "settled", 1_000)).await.unwrap());
    assert_eq!(replay.id, settled.id);
    assert_eq!(replay.state, TxState::RolledBack);
    tombstoned(j.begin(debit(P, "late", 1_000)).await.unwrap());
    // The interrupted call is found and parked.
    assert_eq!(j.park_in_flight(T3).await.unwrap(), 1);
    assert_eq!(
        get_id(&j, P, &sent.id).await.unwrap().state,
        TxState::Pending
    );
    // New rows and events continue after the old ones.
    let fresh = started(j.begin(debit(P, "fresh", 1_000)).await.unwrap());
    assert!(fresh.seq > before.rows.iter().map(|t| t.seq).max().unwrap());
    let last_change = all_changes(&j, P).await.last().unwrap().seq;
    assert!(last_change > before.changes.last().unwrap().0);
    drop(j);

    // And once more, with the parked and new rows.
    let j = reopen(&path);
    assert_eq!(all_rows(&j, P).await.len(), 8);
    assert_eq!(get_key(&j, P, "fresh").await, Some(fresh));
}

#[tokio::test]
async fn the_daily_limit_is_enforced_atomically_and_resets_each_day() {
    let j = SqliteJournal::in_memory().unwrap();
    let limited = |k: &str, minor: i64, now_us: i64| Intent {
        daily_limit: Some(1_000),
        ..transfer(P, k, TxKind::Debit, HMAC, minor, now_us)
    };
    let day = DAY_US * 20_000;
    for k in ["a", "b"] {
        assert!(matches!(
            j.begin(limited(k, 400, day)).await.unwrap(),
            Begin::Started(_)
        ));
    }
    match j.begin(limited("c", 400, day)).await.unwrap() {
        Begin::OverDailyLimit { used } => assert_eq!(used, 800),
        other => panic!("expected the limit, got {other:?}"),
    }
    // Nothing was recorded for the refused call.
    assert!(
        j.get(&pid(P), &Lookup::Key(key("c")))
            .await
            .unwrap()
            .is_none()
    );
    // What moved nothing does not count.
    let b = TransactionId::derive(&pid(P), &key("b"));
    j.record(&b, Recorded::Failed, day).await.unwrap();
    assert!(matches!(
        j.begin(limited("c", 400, day)).await.unwrap(),
        Begin::Started(_)
    ));
    // A new day starts from zero.
    let tomorrow = day + DAY_US;
    assert!(matches!(
        j.begin(limited("d", 1_000, tomorrow)).await.unwrap(),
        Begin::Started(_)
    ));
}

/// Used amounts per (partner, currency, day).
type DailyRows = Vec<(String, String, i64, i64)>;

/// `daily_usage` as kept by the writer, and as summed from the
/// transactions, per (partner, currency, day).
fn daily_usage_both_ways(path: &Path) -> (DailyRows, DailyRows) {
    let c = rusqlite::Connection::open(path).unwrap();
    let rows = |sql: &str| -> DailyRows {
        let mut stmt = c.prepare(sql).unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let kept = rows(
        "SELECT partner, currency, day_us, used FROM daily_usage WHERE used != 0 ORDER BY 1, 2, 3",
    );
    let summed = rows(&format!(
        "SELECT partner, currency, created_us - created_us % {day}, SUM(amount) FROM transactions \
         WHERE kind IN (1, 2) AND state IN (0, 1, 2) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        day = DAY_US
    ));
    (kept, summed)
}

/// The running daily totals follow every kind of state change (settle,
/// decline, fail and re-run, pending and resolution, rollback of settled,
/// pending and failed debits, tombstones, the restart's parking, days and
/// partners apart) and equal the sum over the transactions after each step.
#[tokio::test]
async fn daily_usage_follows_every_state_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let j = SqliteJournal::open(&path).unwrap();
    let check = |step: &str| {
        let (kept, summed) = daily_usage_both_ways(&path);
        assert_eq!(kept, summed, "after {step}");
    };
    let next_day = T0 + DAY_US;

    let settled = settled_debit(&j, P, "settled", 1_000).await;
    check("a settled debit");
    let c = started(j.begin(credit(P, "credit", 250)).await.unwrap());
    j.record(&c.id, settled_result(None, None), T1)
        .await
        .unwrap();
    check("a settled credit");
    let declined = started(j.begin(debit(P, "declined", 70)).await.unwrap());
    j.record(
        &declined.id,
        Recorded::Declined(DeclineReason::InsufficientFunds),
        T1,
    )
    .await
    .unwrap();
    check("a declined debit");
    let failed = started(j.begin(debit(P, "failed", 40)).await.unwrap());
    j.record(&failed.id, Recorded::Failed, T1).await.unwrap();
    check("a failed debit");
    started(j.begin(debit(P, "failed", 40)).await.unwrap());
    check("the failed debit re-run");
    let pending = started(j.begin(debit(P, "pending", 300)).await.unwrap());
    j.record(&pending.id, Recorded::Pending, T1).await.unwrap();
    check("a pending debit");
    j.record(&pending.id, Recorded::RolledBack, T2)
        .await
        .unwrap();
    check("the pending debit compensated");
    let (rb, _) = rb_started(
        j.begin_rollback(rollback_id(P, "rb", &settled.id))
            .await
            .unwrap(),
    );
    check("a rollback in flight");
    j.record(&rb.id, settled_result(None, None), T2)
        .await
        .unwrap();
    check("the settled debit rolled back");
    let doomed = started(j.begin(debit(P, "doomed", 55)).await.unwrap());
    j.record(&doomed.id, Recorded::Failed, T1).await.unwrap();
    j.begin_rollback(rollback_id(P, "rb-doomed", &doomed.id))
        .await
        .unwrap();
    check("a failed debit closed by its rollback");
    j.begin_rollback(rollback_key(P, "rb-unseen", "unseen", Some(HMAC)))
        .await
        .unwrap();
    check("a tombstone");
    started(
        j.begin(at(debit(P, "tomorrow", 500), next_day))
            .await
            .unwrap(),
    );
    started(j.begin(debit(Q, "other", 800)).await.unwrap());
    check("another day and another partner");
    j.park_in_flight(T3).await.unwrap();
    check("the restart's parking of SENT transactions");

    let (kept, _) = daily_usage_both_ways(&path);
    assert!(kept.len() >= 3, "{kept:?}");
    drop(j);

    // A journal from before the table gets it rebuilt on open.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE daily_usage")
        .unwrap();
    let j = SqliteJournal::open(&path).unwrap();
    let (rebuilt, summed) = daily_usage_both_ways(&path);
    assert_eq!(rebuilt, summed);
    assert_eq!(rebuilt, kept);
    // And the limit reads it.
    let limited = Intent {
        daily_limit: Some(1_000),
        ..debit(Q, "over", 201)
    };
    match j.begin(limited).await.unwrap() {
        Begin::OverDailyLimit { used } => assert_eq!(used, 800),
        other => panic!("expected the limit, got {other:?}"),
    }
}
