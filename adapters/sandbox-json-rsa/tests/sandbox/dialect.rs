//! The json-rsa dialect: signatures both ways, business rules, statuses.

use rsa::RsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use sandbox_json_rsa::{KeyConfig, KeySource, SandboxConfig, TxKind, TxState};

use crate::common::*;

#[tokio::test]
async fn unsigned_or_wrongly_signed_requests_get_a_signed_invalid_signature_and_move_nothing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 100_000_000);
    let body = transfer_body("q-1", "t-1", "acc-1", 2_500_000);
    let json = ("Content-Type", "application/json".to_owned());
    let refused = [
        vec![json.clone()],
        vec![
            json.clone(),
            (
                "X-Signature",
                sign_with("impostor_private.pem", body.as_bytes()),
            ),
        ],
        vec![
            json.clone(),
            (
                "X-Signature",
                sign_with("provider_private.pem", body.as_bytes()),
            ),
        ],
        vec![
            json.clone(),
            (
                "X-Signature",
                sign(&transfer_body("q-1", "t-1", "acc-1", 1)),
            ),
        ],
        vec![json.clone(), ("X-Signature", "not base64!".to_owned())],
        vec![json.clone(), ("X-Signature", String::new())],
    ];
    for headers in refused {
        let reply = send(&sandbox, "POST", BET, &headers, &body).await.trusted();
        assert_eq!(reply.text(), r#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#);
    }
    assert_eq!(sandbox.balance("acc-1"), Some(100_000_000));
    assert!(sandbox.ledger().transactions.is_empty());
    // Counted all the same.
    assert_eq!(sandbox.requests_for("t-1"), 6);

    // The same body correctly signed goes through.
    let reply = send(&sandbox, "POST", BET, &signed_headers(&body), &body)
        .await
        .trusted();
    assert_eq!(reply.rs(), "RS_OK");
    assert_eq!(sandbox.balance("acc-1"), Some(97_500_000));
}

#[tokio::test]
async fn the_configured_operator_key_is_the_one_that_counts() {
    // Configured to trust the impostor as its operator.
    let impostor = RsaPrivateKey::from_pkcs8_pem(&pem("impostor_private.pem")).expect("key");
    let impostor_public = impostor
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let sandbox = start_with(SandboxConfig {
        keys: KeyConfig {
            operator_public_key: KeySource::Pem(impostor_public),
            ..KeyConfig::default()
        },
        control: false,
    })
    .await;
    sandbox.seed("acc-1", "EUR", 1_000);
    let body = r#"{"request_uuid":"q","user":"acc-1","currency":"EUR"}"#;
    let reply = post(&sandbox, BALANCE, body).await.trusted();
    assert_eq!(reply.rs(), "RS_ERROR_INVALID_SIGNATURE");
    let headers = [(
        "X-Signature",
        sign_with("impostor_private.pem", body.as_bytes()),
    )];
    let reply = send(&sandbox, "POST", BALANCE, &headers, body)
        .await
        .trusted();
    assert_eq!(reply.json()["balance"], 1_000);
}

#[tokio::test]
async fn balance_bet_win_and_lookup_answer_as_the_spec_writes_them() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 1_000_000_000);

    let reply = balance(&sandbox, "q-1", "acc-1", "EUR").await.trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-1","user":"acc-1","currency":"EUR","balance":1000000000,"status":"RS_OK"}"#
    );
    let reply = bet(&sandbox, "q-2", "t-1", "acc-1", 25_000_000)
        .await
        .trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-2","transaction_uuid":"t-1","balance":975000000,"currency":"EUR","status":"RS_OK"}"#
    );
    let reply = win(&sandbox, "q-3", "w-1", "acc-1", 5_000_000)
        .await
        .trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-3","transaction_uuid":"w-1","balance":980000000,"currency":"EUR","status":"RS_OK"}"#
    );
    assert_eq!(sandbox.balance("acc-1"), Some(980_000_000));

    let reply = lookup(&sandbox, "q-4", "t-1").await.trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-4","transaction_uuid":"t-1","state":"TS_SUCCESS","amount":25000000,"currency":"EUR","status":"RS_OK"}"#
    );
    let reply = lookup(&sandbox, "q-5", "w-1").await.trusted();
    assert_eq!(reply.json()["state"], "TS_SUCCESS");
    let reply = lookup(&sandbox, "q-6", "never-sent").await.trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-6","transaction_uuid":"never-sent","status":"RS_ERROR_TRANSACTION_DOES_NOT_EXIST"}"#
    );
}

#[tokio::test]
async fn any_positive_integer_of_1e_5_units_is_accepted() {
    // 1 unit (EUR 0.00001) is no whole number of cents: this provider does
    // not care, it keeps its books in 1e-5 units.
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 100);
    let reply = bet(&sandbox, "q-1", "t-1", "acc-1", 1).await.trusted();
    assert_eq!(reply.json()["balance"], 99);
    let reply = win(&sandbox, "q-2", "w-1", "acc-1", 12_345).await.trusted();
    assert_eq!(reply.json()["balance"], 12_444);
    assert_eq!(sandbox.balance("acc-1"), Some(12_444));
}

#[tokio::test]
async fn same_uuid_same_parameters_is_the_original_answer_with_the_new_request_uuid() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000_000);
    let first = bet(&sandbox, "q-1", "t-1", "acc-1", 2_500_000)
        .await
        .trusted();
    // Money moves between the two: the replay still tells the original
    // balance.
    win(&sandbox, "q-2", "w-1", "acc-1", 1_000_000)
        .await
        .trusted();
    let again = bet(&sandbox, "q-3", "t-1", "acc-1", 2_500_000)
        .await
        .trusted();
    assert_eq!(again.text(), first.text().replace("q-1", "q-3"));
    assert_eq!(again.json()["balance"], 7_500_000);
    assert_eq!(sandbox.balance("acc-1"), Some(8_500_000));
    assert_eq!(sandbox.ledger().transactions.len(), 2);
    assert_eq!(sandbox.requests_for("t-1"), 2);

    // Declines replay too, even once the money is there.
    let declined = bet(&sandbox, "q-4", "t-2", "acc-1", 50_000_000)
        .await
        .trusted();
    assert_eq!(declined.rs(), "RS_ERROR_NOT_ENOUGH_MONEY");
    sandbox.seed("acc-1", "EUR", 100_000_000);
    let again = bet(&sandbox, "q-5", "t-2", "acc-1", 50_000_000)
        .await
        .trusted();
    assert_eq!(again.text(), declined.text().replace("q-4", "q-5"));
    assert_eq!(sandbox.balance("acc-1"), Some(100_000_000));
}

#[tokio::test]
async fn same_uuid_other_parameters_is_a_duplicate_and_moves_nothing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000_000);
    sandbox.seed("acc-2", "EUR", 10_000_000);
    sandbox.seed("acc-3", "USD", 10_000_000);
    bet(&sandbox, "q-0", "t-1", "acc-1", 2_500_000)
        .await
        .trusted();
    let other = |field: &str, value: &str| {
        transfer_body("q-x", "t-1", "acc-1", 2_500_000).replace(field, value)
    };
    let bodies = [
        transfer_body("q-x", "t-1", "acc-1", 2_500_001),
        transfer_body("q-x", "t-1", "acc-2", 2_500_000),
        other(r#""currency":"EUR""#, r#""currency":"USD""#),
        other(r#""round":"r-9""#, r#""round":"r-10""#),
        other(r#","round":"r-9""#, ""),
    ];
    for body in &bodies {
        let reply = post(&sandbox, BET, body).await.trusted();
        assert_eq!(
            reply.text(),
            r#"{"request_uuid":"q-x","transaction_uuid":"t-1","status":"RS_ERROR_DUPLICATE_TRANSACTION"}"#,
            "{body}"
        );
    }
    // A win with the bet's id is another transaction too.
    let reply = win(&sandbox, "q-y", "t-1", "acc-1", 2_500_000)
        .await
        .trusted();
    assert_eq!(reply.rs(), "RS_ERROR_DUPLICATE_TRANSACTION");
    for (user, expected) in [
        ("acc-1", 7_500_000),
        ("acc-2", 10_000_000),
        ("acc-3", 10_000_000),
    ] {
        assert_eq!(sandbox.balance(user), Some(expected), "{user}");
    }
    assert_eq!(sandbox.ledger().transactions.len(), 1);
}

#[tokio::test]
async fn rollback_of_an_unknown_id_is_ok_and_tombstones_it() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000_000);
    let reply = rollback(&sandbox, "q-1", "r-1", "ghost").await.trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-1","transaction_uuid":"r-1","status":"RS_OK"}"#
    );
    let reply = bet(&sandbox, "q-2", "ghost", "acc-1", 500_000)
        .await
        .trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-2","transaction_uuid":"ghost","status":"RS_ERROR_TRANSACTION_ROLLED_BACK"}"#
    );
    assert_eq!(
        win(&sandbox, "q-3", "ghost", "acc-1", 500_000).await.rs(),
        "RS_ERROR_TRANSACTION_ROLLED_BACK"
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_000_000));
    assert_eq!(
        lookup(&sandbox, "q-4", "ghost").await.rs(),
        "RS_ERROR_TRANSACTION_DOES_NOT_EXIST"
    );
    // The same rollback again, and another rollback of the ghost: the first
    // rollback's answer.
    let first = r#"{"request_uuid":"Q","transaction_uuid":"r-1","status":"RS_OK"}"#;
    let reply = rollback(&sandbox, "q-5", "r-1", "ghost").await.trusted();
    assert_eq!(reply.text(), first.replace('Q', "q-5"));
    let reply = rollback(&sandbox, "q-6", "r-2", "ghost").await.trusted();
    assert_eq!(reply.text(), first.replace('Q', "q-6"));

    let ledger = sandbox.ledger();
    assert_eq!(ledger.tombstones.len(), 1);
    assert_eq!(ledger.tombstones[0].transaction_uuid, "ghost");
    assert_eq!(ledger.tombstones[0].rolled_back_by, "r-1");
    assert_eq!(
        ledger.transaction("r-2").map(|t| t.state),
        Some(TxState::Duplicate)
    );
}

#[tokio::test]
async fn rollback_gives_a_bet_back_once_and_a_second_rollback_gets_the_first_answer() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000_000);
    bet(&sandbox, "q-1", "t-1", "acc-1", 2_500_000)
        .await
        .trusted();
    let first = rollback(&sandbox, "q-2", "r-1", "t-1").await.trusted();
    assert_eq!(
        first.text(),
        r#"{"request_uuid":"q-2","transaction_uuid":"r-1","balance":10000000,"status":"RS_OK"}"#
    );
    // Retry of the rollback, and a rollback under another id.
    let retry = rollback(&sandbox, "q-3", "r-1", "t-1").await.trusted();
    assert_eq!(retry.text(), first.text().replace("q-2", "q-3"));
    let second = rollback(&sandbox, "q-4", "r-2", "t-1").await.trusted();
    assert_eq!(second.text(), first.text().replace("q-2", "q-4"));
    assert_eq!(sandbox.balance("acc-1"), Some(10_000_000));

    // The rollback id reused for another reference, or for a bet: duplicate.
    assert_eq!(
        rollback(&sandbox, "q-5", "r-1", "t-other").await.rs(),
        "RS_ERROR_DUPLICATE_TRANSACTION"
    );
    assert_eq!(
        bet(&sandbox, "q-6", "r-1", "acc-1", 1).await.rs(),
        "RS_ERROR_DUPLICATE_TRANSACTION"
    );
    // The bet itself is now refused, repeated exactly or not.
    assert_eq!(
        bet(&sandbox, "q-7", "t-1", "acc-1", 2_500_000).await.rs(),
        "RS_ERROR_TRANSACTION_ROLLED_BACK"
    );
    let reply = lookup(&sandbox, "q-8", "t-1").await.trusted();
    assert_eq!(reply.json()["state"], "TS_ROLLED_BACK");
    assert_eq!(reply.json()["amount"], 2_500_000);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000_000));

    let ledger = sandbox.ledger();
    let applied_rollbacks = ledger
        .transactions
        .iter()
        .filter(|t| t.kind == TxKind::Rollback && t.state == TxState::Applied)
        .count();
    assert_eq!(applied_rollbacks, 1);
}

#[tokio::test]
async fn rollback_of_a_win_is_not_reversible() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000_000);
    win(&sandbox, "q-1", "w-1", "acc-1", 1_000_000)
        .await
        .trusted();
    let reply = rollback(&sandbox, "q-2", "r-1", "w-1").await.trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-2","transaction_uuid":"r-1","status":"RS_ERROR_NOT_REVERSIBLE"}"#
    );
    // Nor a rollback of a rollback.
    bet(&sandbox, "q-3", "t-1", "acc-1", 1_000).await.trusted();
    rollback(&sandbox, "q-4", "r-2", "t-1").await.trusted();
    assert_eq!(
        rollback(&sandbox, "q-5", "r-3", "r-2").await.rs(),
        "RS_ERROR_NOT_REVERSIBLE"
    );
    assert_eq!(sandbox.balance("acc-1"), Some(11_000_000));
    assert_eq!(
        lookup(&sandbox, "q-6", "w-1").await.json()["state"],
        "TS_SUCCESS"
    );
}

#[tokio::test]
async fn declines_move_nothing_and_are_looked_up_as_declined() {
    let sandbox = start().await;
    sandbox.seed("poor", "EUR", 100);
    sandbox.seed("off", "EUR", 10_000);
    sandbox.block("off");
    sandbox.seed("limited", "EUR", 10_000);
    sandbox.set_limit("limited", Some(500));
    sandbox.seed("dollars", "USD", 10_000);
    sandbox.seed("rich", "EUR", i64::MAX - 10);

    let cases = [
        (
            bet(&sandbox, "q", "t-1", "poor", 101).await,
            "RS_ERROR_NOT_ENOUGH_MONEY",
        ),
        (
            bet(&sandbox, "q", "t-2", "off", 1).await,
            "RS_ERROR_USER_DISABLED",
        ),
        (
            win(&sandbox, "q", "t-3", "off", 1).await,
            "RS_ERROR_USER_DISABLED",
        ),
        (
            bet(&sandbox, "q", "t-4", "limited", 501).await,
            "RS_ERROR_LIMIT_REACHED",
        ),
        (
            win(&sandbox, "q", "t-5", "limited", 501).await,
            "RS_ERROR_LIMIT_REACHED",
        ),
        (
            bet(&sandbox, "q", "t-6", "dollars", 1).await,
            "RS_ERROR_WRONG_CURRENCY",
        ),
        (
            bet(&sandbox, "q", "t-7", "nobody", 1).await,
            "RS_ERROR_UNKNOWN_USER",
        ),
        // i64::MAX - 10 + 11 does not fit: a ceiling, never a wrap.
        (
            win(&sandbox, "q", "t-8", "rich", 11).await,
            "RS_ERROR_LIMIT_REACHED",
        ),
        (
            balance(&sandbox, "q", "dollars", "EUR").await,
            "RS_ERROR_WRONG_CURRENCY",
        ),
        (
            balance(&sandbox, "q", "nobody", "EUR").await,
            "RS_ERROR_UNKNOWN_USER",
        ),
    ];
    for (reply, status) in cases {
        let reply = reply.trusted();
        assert_eq!(reply.rs(), status, "{}", reply.text());
    }
    for (user, expected) in [
        ("poor", 100),
        ("off", 10_000),
        ("limited", 10_000),
        ("dollars", 10_000),
        ("rich", i64::MAX - 10),
    ] {
        assert_eq!(sandbox.balance(user), Some(expected), "{user}");
    }
    let reply = lookup(&sandbox, "q-l", "t-1").await.trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-l","transaction_uuid":"t-1","state":"TS_DECLINED","amount":101,"currency":"EUR","status":"RS_OK"}"#
    );
    // A rollback of a declined bet: RS_OK with the balance, nothing moves,
    // and the id is dead.
    let reply = rollback(&sandbox, "q-r", "r-1", "t-1").await.trusted();
    assert_eq!(
        reply.text(),
        r#"{"request_uuid":"q-r","transaction_uuid":"r-1","balance":100,"status":"RS_OK"}"#
    );
    assert_eq!(sandbox.balance("poor"), Some(100));
    // Within the limit and the ceiling it works.
    assert_eq!(
        bet(&sandbox, "q", "t-9", "limited", 500).await.rs(),
        "RS_OK"
    );
    assert_eq!(win(&sandbox, "q", "t-10", "rich", 10).await.rs(), "RS_OK");
    assert_eq!(sandbox.balance("rich"), Some(i64::MAX));
}

#[tokio::test]
async fn unreadable_requests_are_a_signed_400_and_are_not_recorded() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let cases = [
        (BET, "not json"),
        (BET, "[]"),
        (BET, ""),
        (
            BET,
            r#"{"request_uuid":"q","transaction_uuid":"b","user":"acc-1","currency":"EUR"}"#,
        ),
        (
            BET,
            r#"{"request_uuid":"q","transaction_uuid":"b","user":"acc-1","currency":"EUR","amount":0}"#,
        ),
        (
            BET,
            r#"{"request_uuid":"q","transaction_uuid":"b","user":"acc-1","currency":"EUR","amount":-5}"#,
        ),
        (
            BET,
            r#"{"request_uuid":"q","transaction_uuid":"b","user":"acc-1","currency":"EUR","amount":2.5}"#,
        ),
        (
            BET,
            r#"{"request_uuid":"q","transaction_uuid":"b","user":"acc-1","currency":"EUR","amount":"250"}"#,
        ),
        (
            WIN,
            r#"{"request_uuid":"q","user":"acc-1","currency":"EUR","amount":250}"#,
        ),
        (
            WIN,
            r#"{"request_uuid":"q","transaction_uuid":"","user":"acc-1","currency":"EUR","amount":250}"#,
        ),
        (ROLLBACK, r#"{"request_uuid":"q","transaction_uuid":"b"}"#),
        (LOOKUP, r#"{"request_uuid":"q"}"#),
        (BALANCE, r#"{"user":"acc-1","currency":"EUR"}"#),
    ];
    for (path, body) in cases {
        let reply = post(&sandbox, path, body).await;
        assert_eq!(reply.status, 400, "{path} {body}");
        assert_eq!(reply.text(), r#"{"status":"RS_ERROR_UNKNOWN"}"#);
        assert!(reply.signed_by_provider());
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    // "b" was never recorded, so a well-formed bet with it is applied.
    assert_eq!(bet(&sandbox, "q", "b", "acc-1", 250).await.rs(), "RS_OK");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn only_post_on_the_dialect_paths_is_served() {
    let sandbox = start().await;
    let reply = send(&sandbox, "GET", BALANCE, &[], "").await;
    assert_eq!(reply.status, 405);
    let body = r#"{"request_uuid":"q","user":"acc-1","currency":"EUR"}"#;
    let reply = post(&sandbox, "/api/user/balances", body).await;
    assert_eq!(reply.status, 404);
    let reply = post(&sandbox, "/control/ledger", body).await;
    assert_eq!(reply.status, 404, "control surface is off");
}

#[tokio::test]
async fn counters_count_money_requests_by_transaction_uuid() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    bet(&sandbox, "q-1", "x", "acc-1", 1).await;
    bet(&sandbox, "q-2", "x", "acc-1", 1).await;
    let body = transfer_body("q-3", "x", "acc-1", 1);
    send(&sandbox, "POST", BET, &[], &body).await;
    rollback(&sandbox, "q-4", "y", "x").await;
    post(&sandbox, WIN, "garbage").await;
    lookup(&sandbox, "q-5", "x").await;
    balance(&sandbox, "q-6", "acc-1", "EUR").await;

    assert_eq!(sandbox.requests_for("x"), 3);
    assert_eq!(sandbox.requests_for("y"), 1);
    assert_eq!(sandbox.requests_for("z"), 0);
    assert_eq!(sandbox.money_requests(), 5);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sandbox = start().await;
    let addr = sandbox.addr();
    assert_eq!(
        sandbox.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    sandbox.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
