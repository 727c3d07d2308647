//! The dialect's rules, each driven over a real socket.

use sandbox_form_md5::{TxKind, TxState};

use crate::common::*;

#[tokio::test]
async fn balance_reports_cash_with_the_currency_decimals() {
    let sandbox = start().await;
    sandbox.seed("eur", "EUR", 10_000);
    sandbox.seed("jpy", "JPY", 1_250);
    sandbox.seed("kwd", "KWD", 1_250);
    sandbox.seed("neg", "EUR", -5);

    let reply = balance(&sandbox, "eur", "EUR").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        reply.text(),
        r#"{"error":0,"currency":"EUR","cash":100.00}"#
    );
    assert_eq!(
        balance(&sandbox, "jpy", "JPY").await.text(),
        r#"{"error":0,"currency":"JPY","cash":1250}"#
    );
    assert_eq!(
        balance(&sandbox, "kwd", "KWD").await.text(),
        r#"{"error":0,"currency":"KWD","cash":1.250}"#
    );
    assert_eq!(balance(&sandbox, "neg", "EUR").await.cash(), "-0.05");
    assert_eq!(
        balance(&sandbox, "eur", "USD").await.text(),
        error_text(6, "wrong currency")
    );
    assert_eq!(
        balance(&sandbox, "nobody", "EUR").await.text(),
        error_text(2, "player not found")
    );
    assert_eq!(
        sandbox.money_requests(),
        0,
        "balance is not a money request"
    );
}

#[tokio::test]
async fn bet_and_result_move_money_and_answer_with_the_new_cash() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);

    let reply = bet(&sandbox, "acc-1", "b-1", "2.50").await;
    assert_eq!(
        reply.text(),
        r#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.50}"#
    );
    let reply = result(&sandbox, "acc-1", "w-1", "12.55").await;
    assert_eq!(
        reply.text(),
        r#"{"error":0,"transactionId":"fm-2","currency":"EUR","cash":110.05}"#
    );
    assert_eq!(sandbox.balance("acc-1"), Some(11_005));

    let ledger = sandbox.ledger();
    let b = ledger.transaction("b-1").expect("bet recorded");
    assert_eq!(
        (b.kind, b.state, b.amount),
        (TxKind::Bet, TxState::Applied, 250)
    );
    assert_eq!(b.round_id.as_deref(), Some("r-9"));
    assert_eq!(b.timestamp.as_deref(), Some("1732540000000"));
    let w = ledger.transaction("w-1").expect("result recorded");
    assert_eq!(
        (w.kind, w.transaction_id.as_deref()),
        (TxKind::Result, Some("fm-2"))
    );
}

#[tokio::test]
async fn the_same_reference_again_replays_the_original_reply_and_moves_nothing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let first = bet(&sandbox, "acc-1", "t-1", "2.50").await;
    assert_eq!(first.error(), 0);

    let again = bet(&sandbox, "acc-1", "t-1", "2.50").await;
    assert_eq!(again.body, first.body);
    // Other parameters and the other money endpoint change nothing.
    assert_eq!(
        bet(&sandbox, "acc-1", "t-1", "50.00").await.body,
        first.body
    );
    assert_eq!(
        result(&sandbox, "acc-1", "t-1", "9.00").await.body,
        first.body
    );

    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.ledger().transactions.len(), 1);
    assert_eq!(sandbox.requests_for("t-1"), 4);
}

#[tokio::test]
async fn a_declined_reference_replays_its_decline_even_once_funds_arrive() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 100);
    let declined = bet(&sandbox, "acc-1", "big", "5.00").await;
    assert_eq!(declined.text(), error_text(1, "insufficient balance"));
    assert_eq!(sandbox.balance("acc-1"), Some(100));

    sandbox.seed("acc-1", "EUR", 100_000);
    assert_eq!(
        bet(&sandbox, "acc-1", "big", "5.00").await.body,
        declined.body
    );
    assert_eq!(sandbox.balance("acc-1"), Some(100_000));
    let record = sandbox
        .ledger()
        .transaction("big")
        .cloned()
        .expect("recorded");
    assert_eq!((record.state, record.error), (TxState::Declined, Some(1)));

    // The whole balance can be bet.
    assert_eq!(
        bet(&sandbox, "acc-1", "all", "1000.00").await.cash(),
        "0.00"
    );
}

#[tokio::test]
async fn refund_reverses_a_bet_once_and_a_second_refund_gets_the_first_reply() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    assert_eq!(bet(&sandbox, "acc-1", "b-1", "2.50").await.error(), 0);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));

    let first = refund(&sandbox, "acc-1", "b-1").await;
    assert_eq!(first.text(), r#"{"error":0,"transactionId":"fm-2"}"#);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    let second = refund(&sandbox, "acc-1", "b-1").await;
    assert_eq!(second.body, first.body);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    let ledger = sandbox.ledger();
    let b = ledger.transaction("b-1").expect("bet");
    assert_eq!(b.state, TxState::Refunded);
    assert_eq!(b.refunded_by.as_deref(), Some("fm-2"));
    assert_eq!(
        ledger
            .transactions
            .iter()
            .filter(|t| t.kind == TxKind::Refund)
            .count(),
        1
    );
    // The refunded bet's reference still replays the bet's own reply.
    assert_eq!(bet(&sandbox, "acc-1", "b-1", "2.50").await.cash(), "97.50");
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
}

#[tokio::test]
async fn refund_of_an_unknown_reference_is_7_and_records_nothing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let reply = refund(&sandbox, "acc-1", "never-seen").await;
    assert_eq!(reply.text(), error_text(7, "transaction not found"));
    assert!(sandbox.ledger().transactions.is_empty());
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    // No tombstone: a late bet is applied, and can then be refunded.
    assert_eq!(
        bet(&sandbox, "acc-1", "never-seen", "1.00").await.error(),
        0
    );
    assert_eq!(refund(&sandbox, "acc-1", "never-seen").await.error(), 0);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
}

#[tokio::test]
async fn refund_of_a_declined_bet_is_7() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 100);
    assert_eq!(bet(&sandbox, "acc-1", "big", "5.00").await.error(), 1);
    assert_eq!(
        refund(&sandbox, "acc-1", "big").await.text(),
        error_text(7, "transaction not found")
    );
    assert_eq!(sandbox.balance("acc-1"), Some(100));
}

#[tokio::test]
async fn refund_of_a_result_is_8_and_moves_nothing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    assert_eq!(result(&sandbox, "acc-1", "w-1", "3.00").await.error(), 0);
    let reply = refund(&sandbox, "acc-1", "w-1").await;
    assert_eq!(reply.text(), error_text(8, "already settled"));
    assert_eq!(refund(&sandbox, "acc-1", "w-1").await.body, reply.body);
    assert_eq!(sandbox.balance("acc-1"), Some(10_300));
    assert_eq!(sandbox.ledger().transactions.len(), 1);
}

#[tokio::test]
async fn refund_naming_another_player_is_bad_parameters() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.seed("acc-2", "EUR", 0);
    assert_eq!(bet(&sandbox, "acc-1", "b-1", "1.00").await.error(), 0);
    assert_eq!(
        refund(&sandbox, "acc-2", "b-1").await.text(),
        error_text(120, "bad parameters")
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_900));
    assert_eq!(sandbox.balance("acc-2"), Some(0));
}

#[tokio::test]
async fn account_refusals_have_their_numbers() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.seed("usd", "USD", 10_000);

    assert_eq!(
        bet(&sandbox, "nobody", "p-1", "1.00").await.text(),
        error_text(2, "player not found")
    );
    assert_eq!(
        bet(&sandbox, "usd", "p-2", "1.00").await.text(),
        error_text(6, "wrong currency")
    );
    sandbox.set_limit("acc-1", Some(500));
    assert_eq!(
        bet(&sandbox, "acc-1", "p-3", "5.01").await.text(),
        error_text(4, "limit reached")
    );
    assert_eq!(
        result(&sandbox, "acc-1", "p-4", "5.01").await.text(),
        error_text(4, "limit reached")
    );
    assert_eq!(bet(&sandbox, "acc-1", "p-5", "5.00").await.error(), 0);
    sandbox.set_limit("acc-1", None);

    sandbox.block("acc-1");
    assert_eq!(
        bet(&sandbox, "acc-1", "p-6", "1.00").await.text(),
        error_text(3, "bet not allowed")
    );
    assert_eq!(result(&sandbox, "acc-1", "p-7", "1.00").await.error(), 3);
    // A refund still goes through on a blocked account.
    assert_eq!(refund(&sandbox, "acc-1", "p-5").await.error(), 0);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert_eq!(sandbox.balance("usd"), Some(10_000));
}

#[tokio::test]
async fn a_wrong_hash_is_5_and_nothing_is_recorded() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let pairs = [
        ("providerId", PROVIDER),
        ("userId", "acc-1"),
        ("reference", "h-1"),
        ("amount", "2.50"),
        ("currency", "EUR"),
    ];
    let good = body(&pairs);
    let hash = hash_with(SECRET, &pairs);
    let invalid = error_text(5, "invalid hash");

    let cases = [
        ("other secret", body_with("not-the-secret", &pairs)),
        ("no hash", good.replace(&format!("&hash={hash}"), "")),
        ("empty hash", good.replace(&hash, "")),
        ("upper-case hash", good.replace(&hash, &hash.to_uppercase())),
        (
            "amount changed after signing",
            good.replace("amount=2.50", "amount=3.50"),
        ),
        ("unsigned extra parameter", format!("{good}&bonus=1")),
    ];
    for (why, body) in cases {
        let reply = post(&sandbox, "/bet.html", &body).await;
        assert_eq!(reply.text(), invalid, "{why}");
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    assert_eq!(
        sandbox.requests_for("h-1"),
        6,
        "refused requests are counted"
    );

    // The reference was never recorded: a correct request applies.
    assert_eq!(post(&sandbox, "/bet.html", &good).await.error(), 0);
}

#[tokio::test]
async fn an_unknown_or_missing_provider_id_is_5_even_when_signed_with_the_secret() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let other = body(&[
        ("providerId", "op2"),
        ("userId", "acc-1"),
        ("currency", "EUR"),
    ]);
    let missing = body(&[("userId", "acc-1"), ("currency", "EUR")]);
    for body in [other, missing] {
        assert_eq!(
            post(&sandbox, "/balance.html", &body).await.text(),
            error_text(5, "invalid hash"),
            "{body}"
        );
    }
    assert_eq!(balance(&sandbox, "acc-1", "EUR").await.error(), 0);
}

#[tokio::test]
async fn values_are_signed_decoded_and_every_parameter_is_signed() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    // A reference that needs URL encoding: signed over its decoded form.
    let reference = "r&d 1/ü+=";
    let pairs = [
        ("providerId", PROVIDER),
        ("userId", "acc-1"),
        ("reference", reference),
        ("amount", "1.00"),
        ("currency", "EUR"),
        ("extra", "kept"),
    ];
    let reply = post(&sandbox, "/bet.html", &body(&pairs)).await;
    assert_eq!(reply.error(), 0, "{}", reply.text());
    assert!(sandbox.ledger().transaction(reference).is_some());
    assert_eq!(sandbox.requests_for(reference), 1);

    // Signing the encoded form instead is refused.
    let encoded: String = form_urlencoded::byte_serialize(reference.as_bytes()).collect();
    let wrong_hash = hash_with(
        SECRET,
        &[
            ("providerId", PROVIDER),
            ("userId", "acc-1"),
            ("reference", &encoded),
            ("amount", "1.00"),
            ("currency", "EUR"),
        ],
    );
    let wrong = format!(
        "providerId={PROVIDER}&userId=acc-1&reference={encoded}&amount=1.00&currency=EUR&hash={wrong_hash}"
    );
    assert_eq!(post(&sandbox, "/bet.html", &wrong).await.error(), 5);
    assert_eq!(sandbox.balance("acc-1"), Some(9_900));
}

#[tokio::test]
async fn timestamp_and_round_are_informational() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let without = body(&[
        ("providerId", PROVIDER),
        ("userId", "acc-1"),
        ("reference", "t-1"),
        ("amount", "1.00"),
        ("currency", "EUR"),
    ]);
    assert_eq!(post(&sandbox, "/bet.html", &without).await.error(), 0);
    let odd = body(&[
        ("providerId", PROVIDER),
        ("userId", "acc-1"),
        ("reference", "t-2"),
        ("amount", "1.00"),
        ("currency", "EUR"),
        ("timestamp", "yesterday"),
    ]);
    assert_eq!(post(&sandbox, "/bet.html", &odd).await.error(), 0);
    let ledger = sandbox.ledger();
    assert_eq!(
        ledger.transaction("t-1").and_then(|t| t.timestamp.clone()),
        None
    );
    assert_eq!(
        ledger
            .transaction("t-2")
            .and_then(|t| t.timestamp.clone())
            .as_deref(),
        Some("yesterday")
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_800));
}

#[tokio::test]
async fn malformed_requests_are_120() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let bad = error_text(120, "bad parameters");
    let good = money_body("acc-1", "m-1", "1.00", "EUR");

    let json = raw_request(
        "POST",
        "/bet.html",
        &[("Content-Type", "application/json")],
        &good,
    );
    assert_eq!(
        send_raw(&sandbox, &json).await.text(),
        bad,
        "wrong content type"
    );
    let none = raw_request("POST", "/bet.html", &[], &good);
    assert_eq!(
        send_raw(&sandbox, &none).await.text(),
        bad,
        "no content type"
    );
    assert_eq!(
        post(&sandbox, "/bet.html", &format!("userId=acc-1&{good}"))
            .await
            .text(),
        bad,
        "a parameter given twice"
    );
    for missing in ["userId", "reference", "amount", "currency"] {
        let pairs: Vec<(&str, &str)> = [
            ("providerId", PROVIDER),
            ("userId", "acc-1"),
            ("reference", "m-1"),
            ("amount", "1.00"),
            ("currency", "EUR"),
        ]
        .into_iter()
        .filter(|(k, _)| *k != missing)
        .collect();
        assert_eq!(
            post(&sandbox, "/bet.html", &body(&pairs)).await.text(),
            bad,
            "{missing}"
        );
    }
    let empty_reference = money_body("acc-1", "", "1.00", "EUR");
    assert_eq!(
        post(&sandbox, "/bet.html", &empty_reference).await.text(),
        bad
    );
    let refund_without_reference = body(&[("providerId", PROVIDER), ("userId", "acc-1")]);
    assert_eq!(
        post(&sandbox, "/refund.html", &refund_without_reference)
            .await
            .text(),
        bad
    );
    assert_eq!(
        balance(&sandbox, "acc-1", "EURO").await.text(),
        bad,
        "not an ISO code"
    );
    assert_eq!(
        balance(&sandbox, "acc-1", "XAU").await.text(),
        bad,
        "no minor unit"
    );

    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    // After all those, the reference is still free.
    assert_eq!(post(&sandbox, "/bet.html", &good).await.error(), 0);
}

#[tokio::test]
async fn there_is_no_status_endpoint_and_dialect_paths_take_post_only() {
    let sandbox = start().await;
    let status = post(&sandbox, "/status.html", &refund_body("acc-1", "x")).await;
    assert_eq!(status.status, 404);
    let get = send_raw(&sandbox, &raw_request("GET", "/balance.html", &[], "")).await;
    assert_eq!(get.status, 405);
    let control = control(&sandbox, "GET", "/control/ledger", "").await;
    assert_eq!(control.status, 404, "control surface is off by default");
}
