//! The json-hmac dialect: signatures, business rules, error codes.

use sandbox_json_hmac::TxState;

use crate::common::*;

#[tokio::test]
async fn signature_is_required_and_checked() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);

    let reply = balance(&sandbox, "acc-1", "EUR").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        r#"{"account":"acc-1","currency":"EUR","balance":10000}"#
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );

    let body = debit_body("d-1", "acc-1", 250);
    let refused = [
        // no signature at all
        vec![("X-Operator", OPERATOR.to_owned())],
        // another secret
        vec![
            ("X-Operator", OPERATOR.to_owned()),
            ("X-Signature", sign_with("not-the-secret", &body)),
        ],
        // signature of another body
        vec![
            ("X-Operator", OPERATOR.to_owned()),
            ("X-Signature", sign(&debit_body("d-1", "acc-1", 1))),
        ],
        // not hex
        vec![
            ("X-Operator", OPERATOR.to_owned()),
            ("X-Signature", "sig".to_owned()),
        ],
    ];
    for headers in refused {
        let reply = send(&sandbox, "POST", "/v1/debit", &headers, &body).await;
        assert_eq!(reply.status, 401, "{headers:?}");
        assert_eq!(reply.text(), r#"{"code":"INVALID_SIGNATURE"}"#);
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());

    // Upper-case hex is the same signature.
    let headers = [
        ("X-Operator", OPERATOR.to_owned()),
        ("X-Signature", sign(&body).to_uppercase()),
    ];
    let reply = send(&sandbox, "POST", "/v1/debit", &headers, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn operator_header_is_required_and_must_be_the_configured_one() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let body = debit_body("d-1", "acc-1", 250);

    let missing = [("X-Signature", sign(&body))];
    let reply = send(&sandbox, "POST", "/v1/debit", &missing, &body).await;
    assert_eq!((reply.status, reply.code().as_str()), (400, "BAD_REQUEST"));

    let other = [
        ("X-Operator", "someone-else".to_owned()),
        ("X-Signature", sign(&body)),
    ];
    let reply = send(&sandbox, "POST", "/v1/debit", &other, &body).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (401, "INVALID_SIGNATURE")
    );

    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
}

#[tokio::test]
async fn debit_and_credit_move_money_and_status_reports_them() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);

    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        r#"{"tx_id":"d-1","status":"OK","balance":9750,"provider_ref":"hm-000001"}"#
    );
    let reply = credit(&sandbox, "c-1", "acc-1", 1_000).await;
    assert_eq!(
        reply.text(),
        r#"{"tx_id":"c-1","status":"OK","balance":10750,"provider_ref":"hm-000002"}"#
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_750));

    let reply = balance(&sandbox, "acc-1", "EUR").await;
    assert_eq!(reply.json()["balance"], 10_750);

    let reply = status(&sandbox, "d-1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        r#"{"tx_id":"d-1","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#
    );
    let reply = status(&sandbox, "c-1").await;
    assert_eq!(reply.json()["kind"], "credit");
    assert_eq!(reply.json()["amount"], 1_000);

    let reply = status(&sandbox, "never-sent").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.text(), r#"{"code":"TRANSACTION_NOT_FOUND"}"#);
}

#[tokio::test]
async fn same_tx_id_replays_the_original_reply_byte_for_byte_and_moves_nothing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);

    let first = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(first.status, 200);
    // Same id, other amount, even another endpoint: still the first reply.
    let again = debit(&sandbox, "d-1", "acc-1", 999).await;
    let as_credit = credit(&sandbox, "d-1", "acc-1", 5).await;
    for replay in [&again, &as_credit] {
        assert_eq!(replay.status, first.status);
        assert_eq!(replay.body, first.body);
    }
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.ledger().transactions.len(), 1);
    assert_eq!(sandbox.requests_for("d-1"), 3);
}

#[tokio::test]
async fn declined_answers_are_replayed_too() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 100);

    let first = debit(&sandbox, "d-1", "acc-1", 500).await;
    assert_eq!(
        (first.status, first.code().as_str()),
        (402, "INSUFFICIENT_FUNDS")
    );

    // Now it would succeed, but the id already has its answer.
    sandbox.seed("acc-1", "EUR", 1_000);
    let again = debit(&sandbox, "d-1", "acc-1", 500).await;
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    assert_eq!(sandbox.balance("acc-1"), Some(1_000));

    let fresh = debit(&sandbox, "d-2", "acc-1", 500).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(sandbox.balance("acc-1"), Some(500));
}

#[tokio::test]
async fn rollback_reverses_a_debit_once_whatever_rollback_id_is_used() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    assert_eq!(debit(&sandbox, "d-1", "acc-1", 250).await.status, 200);

    let first = rollback(&sandbox, "r-1", "d-1").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.text(),
        r#"{"tx_id":"r-1","status":"OK","balance":10000}"#
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    let same_id = rollback(&sandbox, "r-1", "d-1").await;
    let other_id = rollback(&sandbox, "r-2", "d-1").await;
    for replay in [&same_id, &other_id] {
        assert_eq!((replay.status, &replay.body), (first.status, &first.body));
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    assert_eq!(
        status(&sandbox, "d-1").await.json()["status"],
        "ROLLED_BACK"
    );
    let reply = status(&sandbox, "r-1").await;
    assert_eq!(
        reply.text(),
        r#"{"tx_id":"r-1","status":"OK","kind":"rollback","amount":250,"currency":"EUR"}"#
    );

    let ledger = sandbox.ledger();
    let debit = ledger.transaction("d-1").expect("debit recorded");
    assert_eq!(debit.state, TxState::RolledBack);
    assert_eq!(debit.rolled_back_by.as_deref(), Some("r-1"));
    assert_eq!(
        ledger.transaction("r-2").map(|t| t.state),
        Some(TxState::Duplicate)
    );
}

#[tokio::test]
async fn rollback_of_an_unknown_transaction_or_of_a_credit_is_refused() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);

    let reply = rollback(&sandbox, "r-1", "no-such-debit").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.text(), r#"{"code":"TRANSACTION_NOT_FOUND"}"#);

    assert_eq!(credit(&sandbox, "c-1", "acc-1", 300).await.status, 200);
    let reply = rollback(&sandbox, "r-2", "c-1").await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.text(), r#"{"code":"NOT_REVERSIBLE"}"#);
    assert_eq!(sandbox.balance("acc-1"), Some(10_300));
    assert_eq!(status(&sandbox, "c-1").await.json()["status"], "OK");
}

#[tokio::test]
async fn business_errors_have_their_codes_and_statuses_and_move_nothing() {
    let sandbox = start().await;
    sandbox.seed("poor", "EUR", 100);
    sandbox.seed("blocked", "EUR", 10_000);
    sandbox.block("blocked");
    sandbox.seed("limited", "EUR", 10_000);
    sandbox.set_limit("limited", Some(500));
    sandbox.seed("dollars", "USD", 10_000);
    sandbox.seed("rich", "EUR", i64::MAX - 10);

    let cases = [
        (
            debit(&sandbox, "t-1", "poor", 101).await,
            402,
            "INSUFFICIENT_FUNDS",
        ),
        (
            debit(&sandbox, "t-2", "blocked", 1).await,
            403,
            "ACCOUNT_BLOCKED",
        ),
        (
            credit(&sandbox, "t-3", "blocked", 1).await,
            403,
            "ACCOUNT_BLOCKED",
        ),
        (
            debit(&sandbox, "t-4", "limited", 501).await,
            403,
            "LIMIT_EXCEEDED",
        ),
        (
            credit(&sandbox, "t-5", "limited", 501).await,
            403,
            "LIMIT_EXCEEDED",
        ),
        (
            debit(&sandbox, "t-6", "dollars", 1).await,
            409,
            "WRONG_CURRENCY",
        ),
        (
            balance(&sandbox, "dollars", "EUR").await,
            409,
            "WRONG_CURRENCY",
        ),
        (
            debit(&sandbox, "t-7", "nobody", 1).await,
            404,
            "UNKNOWN_ACCOUNT",
        ),
        (
            balance(&sandbox, "nobody", "EUR").await,
            404,
            "UNKNOWN_ACCOUNT",
        ),
        // i64::MAX - 10 + 11 does not fit: a ceiling, never a wrap.
        (
            credit(&sandbox, "t-8", "rich", 11).await,
            403,
            "LIMIT_EXCEEDED",
        ),
        (
            status(&sandbox, "t-404").await,
            404,
            "TRANSACTION_NOT_FOUND",
        ),
    ];
    for (reply, http, code) in cases {
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (http, code),
            "{}",
            reply.text()
        );
    }
    for (account, expected) in [
        ("poor", 100),
        ("blocked", 10_000),
        ("limited", 10_000),
        ("dollars", 10_000),
        ("rich", i64::MAX - 10),
    ] {
        assert_eq!(sandbox.balance(account), Some(expected), "{account}");
    }
    // Within the limit and the ceiling it works.
    assert_eq!(debit(&sandbox, "t-9", "limited", 500).await.status, 200);
    assert_eq!(credit(&sandbox, "t-10", "rich", 10).await.status, 200);
    assert_eq!(sandbox.balance("rich"), Some(i64::MAX));
}

#[tokio::test]
async fn malformed_requests_are_bad_requests_and_are_not_recorded() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let cases = [
        ("/v1/debit", "not json"),
        ("/v1/debit", "[]"),
        ("/v1/debit", ""),
        (
            "/v1/debit",
            r#"{"tx_id":"b","account":"acc-1","currency":"EUR"}"#,
        ),
        (
            "/v1/debit",
            r#"{"tx_id":"b","account":"acc-1","currency":"EUR","amount":0}"#,
        ),
        (
            "/v1/debit",
            r#"{"tx_id":"b","account":"acc-1","currency":"EUR","amount":-250}"#,
        ),
        (
            "/v1/debit",
            r#"{"tx_id":"b","account":"acc-1","currency":"EUR","amount":2.5}"#,
        ),
        (
            "/v1/debit",
            r#"{"tx_id":"b","account":"acc-1","currency":"EUR","amount":"250"}"#,
        ),
        (
            "/v1/credit",
            r#"{"account":"acc-1","currency":"EUR","amount":250}"#,
        ),
        (
            "/v1/credit",
            r#"{"tx_id":"","account":"acc-1","currency":"EUR","amount":250}"#,
        ),
        ("/v1/rollback", r#"{"tx_id":"b"}"#),
        ("/v1/status", r#"{}"#),
        ("/v1/balance", r#"{"account":"acc-1"}"#),
    ];
    for (path, body) in cases {
        let reply = post(&sandbox, path, body).await;
        assert_eq!(reply.status, 400, "{path} {body}");
        assert_eq!(reply.text(), r#"{"code":"BAD_REQUEST"}"#);
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    // "b" was never recorded, so a well-formed request with it is applied.
    assert_eq!(debit(&sandbox, "b", "acc-1", 250).await.status, 200);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn counters_count_every_money_request_and_only_those() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    debit(&sandbox, "x", "acc-1", 1).await;
    debit(&sandbox, "x", "acc-1", 1).await;
    let body = debit_body("x", "acc-1", 1);
    let unsigned = [("X-Operator", OPERATOR.to_owned())];
    send(&sandbox, "POST", "/v1/debit", &unsigned, &body).await;
    rollback(&sandbox, "y", "x").await;
    post(&sandbox, "/v1/credit", "garbage").await;
    status(&sandbox, "x").await;
    balance(&sandbox, "acc-1", "EUR").await;

    assert_eq!(sandbox.requests_for("x"), 3);
    assert_eq!(sandbox.requests_for("y"), 1);
    assert_eq!(sandbox.requests_for("z"), 0);
    assert_eq!(sandbox.money_requests(), 5);
}
