//! Decimal amounts on the wire: exactly the currency's exponent, positive,
//! within range; anything else is 120 and moves nothing.

use crate::common::*;

#[tokio::test]
async fn malformed_amounts_are_bad_parameters_and_move_nothing() {
    let sandbox = start().await;
    sandbox.seed("eur", "EUR", 10_000);
    sandbox.seed("jpy", "JPY", 10_000);
    sandbox.seed("kwd", "KWD", 10_000);
    let bad = error_text(120, "bad parameters");

    let cases = [
        ("eur", "EUR", "2.5", "one decimal too few"),
        ("eur", "EUR", "2.500", "one decimal too many"),
        ("eur", "EUR", "2", "no decimals"),
        ("eur", "EUR", "2.", "a point without decimals"),
        ("eur", "EUR", ".50", "no integer part"),
        ("eur", "EUR", "-2.50", "negative"),
        ("eur", "EUR", "+2.50", "signed"),
        ("eur", "EUR", "0.00", "zero"),
        ("eur", "EUR", "abc", "not a number"),
        ("eur", "EUR", "2,50", "decimal comma"),
        ("eur", "EUR", "2.5e1", "exponent notation"),
        ("eur", "EUR", " 2.50", "leading space"),
        ("eur", "EUR", "02.50", "leading zero"),
        (
            "eur",
            "EUR",
            "92233720368547758.08",
            "one past i64::MAX minor units",
        ),
        ("eur", "EUR", "100000000000000000000.00", "far too large"),
        ("jpy", "JPY", "12.50", "decimals for an exponent-0 currency"),
        ("jpy", "JPY", "1250.", "a point for an exponent-0 currency"),
        ("jpy", "JPY", "9223372036854775808", "one past i64::MAX"),
        (
            "kwd",
            "KWD",
            "1.25",
            "two decimals for an exponent-3 currency",
        ),
    ];
    for (i, (user, currency, amount, why)) in cases.into_iter().enumerate() {
        let reference = format!("bad-{i}");
        let body = money_body(user, &reference, amount, currency);
        let reply = post(&sandbox, "/bet.html", &body).await;
        assert_eq!(reply.text(), bad, "bet {amount:?}: {why}");
        let reply = post(&sandbox, "/result.html", &body).await;
        assert_eq!(reply.text(), bad, "result {amount:?}: {why}");
    }
    for user in ["eur", "jpy", "kwd"] {
        assert_eq!(sandbox.balance(user), Some(10_000), "{user}");
    }
    assert!(sandbox.ledger().transactions.is_empty());
}

#[tokio::test]
async fn exact_amounts_in_every_exponent_are_taken_to_the_minor_unit() {
    let sandbox = start().await;
    sandbox.seed("eur", "EUR", 10_000);
    sandbox.seed("jpy", "JPY", 10_000);
    sandbox.seed("kwd", "KWD", 10_000);

    let reply = post(
        &sandbox,
        "/bet.html",
        &money_body("eur", "e-1", "0.01", "EUR"),
    )
    .await;
    assert_eq!(reply.cash(), "99.99");
    let reply = post(&sandbox, "/bet.html", &money_body("jpy", "j-1", "1", "JPY")).await;
    assert_eq!(reply.cash(), "9999");
    let reply = post(
        &sandbox,
        "/bet.html",
        &money_body("kwd", "k-1", "1.250", "KWD"),
    )
    .await;
    assert_eq!(reply.cash(), "8.750");
    assert_eq!(sandbox.balance("eur"), Some(9_999));
    assert_eq!(sandbox.balance("jpy"), Some(9_999));
    assert_eq!(sandbox.balance("kwd"), Some(8_750));
}

#[tokio::test]
async fn huge_balances_are_written_exactly_and_overflow_is_refused() {
    let sandbox = start().await;
    sandbox.seed("rich", "EUR", i64::MAX - 1);
    let reply = balance(&sandbox, "rich", "EUR").await;
    assert_eq!(reply.cash(), "92233720368547758.06", "no float rounding");

    let reply = post(
        &sandbox,
        "/result.html",
        &money_body("rich", "w-1", "0.02", "EUR"),
    )
    .await;
    assert_eq!(reply.text(), error_text(4, "limit reached"));
    assert_eq!(sandbox.balance("rich"), Some(i64::MAX - 1));
    let reply = post(
        &sandbox,
        "/result.html",
        &money_body("rich", "w-2", "0.01", "EUR"),
    )
    .await;
    assert_eq!(reply.cash(), "92233720368547758.07");
    assert_eq!(sandbox.balance("rich"), Some(i64::MAX));
}
