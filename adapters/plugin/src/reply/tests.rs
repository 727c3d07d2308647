use super::*;
use adapter_api::{AccountId, Currency, ProviderTxId};

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn debit() -> MoneyRequest {
    MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new("tx-1"),
        account: AccountId::new("acc-1"),
        amount: Money::new(eur(), 250),
        reference: Some("r-9".into()),
    }
}

fn undo(amount: Option<Money>) -> RollbackRequest {
    RollbackRequest {
        tx_id: ProviderTxId::new("rb-1"),
        original_tx_id: ProviderTxId::new("tx-1"),
        account: AccountId::new("acc-1"),
        amount,
    }
}

fn pb_eur(minor_units: i64) -> pb::Money {
    pb::Money {
        currency_code: "EUR".into(),
        minor_units,
    }
}

fn settled_reply() -> pb::TransferResponse {
    pb::TransferResponse {
        transaction_id: "tx-1".into(),
        outcome: pb::Outcome::Settled as i32,
        decline_reason: 0,
        balance_after: Some(pb_eur(9_750)),
        provider_reference: "hm-1".into(),
        error: None,
    }
}

fn error(kind: pb::ErrorKind) -> Option<pb::Error> {
    Some(pb::Error {
        kind: kind as i32,
        http_status: 0,
        detail: "why".into(),
    })
}

#[test]
fn requests_carry_every_canonical_field() {
    let r = transfer_request(&debit());
    assert_eq!(r.direction, pb::Direction::Debit as i32);
    assert_eq!(r.transaction_id, "tx-1");
    assert_eq!(r.account, "acc-1");
    assert_eq!(r.amount, Some(pb_eur(250)));
    assert_eq!(r.reference, "r-9");
    let r = rollback_request(&undo(None));
    assert_eq!(
        (
            r.transaction_id.as_str(),
            r.original_transaction_id.as_str()
        ),
        ("rb-1", "tx-1")
    );
    assert_eq!(r.amount, None);
}

#[test]
fn an_in_contract_settlement_is_settled() {
    match transfer(&debit(), Ok(settled_reply())) {
        Outcome::Settled(s) => {
            assert_eq!(s.balance_after, Some(Money::new(eur(), 9_750)));
            assert_eq!(s.provider_ref.as_deref(), Some("hm-1"));
        }
        other => panic!("{other:?}"),
    }
    let bare = pb::TransferResponse {
        balance_after: None,
        provider_reference: String::new(),
        ..settled_reply()
    };
    assert!(matches!(
        transfer(&debit(), Ok(bare)),
        Outcome::Settled(Settlement {
            balance_after: None,
            provider_ref: None
        })
    ));
}

#[test]
fn declines_and_not_processed_in_contract() {
    let declined = pb::TransferResponse {
        outcome: pb::Outcome::Declined as i32,
        decline_reason: pb::DeclineReason::InsufficientFunds as i32,
        balance_after: None,
        provider_reference: String::new(),
        ..settled_reply()
    };
    assert!(matches!(
        transfer(&debit(), Ok(declined)),
        Outcome::Declined(DeclineReason::InsufficientFunds)
    ));
    for (kind, expect) in [
        (pb::ErrorKind::Connect, "connect"),
        (pb::ErrorKind::Rejected, "rejected"),
        (pb::ErrorKind::Unrepresentable, "unrepresentable"),
    ] {
        let reply = pb::TransferResponse {
            outcome: pb::Outcome::NotProcessed as i32,
            balance_after: None,
            provider_reference: String::new(),
            error: error(kind),
            ..settled_reply()
        };
        match (transfer(&debit(), Ok(reply)), expect) {
            (Outcome::NotProcessed(AdapterError::Connect(_)), "connect")
            | (Outcome::NotProcessed(AdapterError::Rejected { .. }), "rejected")
            | (Outcome::NotProcessed(AdapterError::Unrepresentable(_)), "unrepresentable") => {}
            (other, _) => panic!("{kind:?}: {other:?}"),
        }
    }
}

#[test]
fn unknown_keeps_the_plugins_reason() {
    let reply = pb::TransferResponse {
        outcome: pb::Outcome::Unknown as i32,
        balance_after: None,
        provider_reference: String::new(),
        error: Some(pb::Error {
            kind: pb::ErrorKind::HttpStatus as i32,
            http_status: 503,
            detail: String::new(),
        }),
        ..settled_reply()
    };
    assert!(matches!(
        transfer(&debit(), Ok(reply)),
        Outcome::Unknown(AdapterError::HttpStatus { status: 503 })
    ));
    let bare = pb::TransferResponse {
        outcome: pb::Outcome::Unknown as i32,
        ..Default::default()
    };
    // Even without an echoed id, "unknown" stays unknown.
    assert!(matches!(transfer(&debit(), Ok(bare)), Outcome::Unknown(_)));
}

/// Every way a movement answer can break the contract, each of which must
/// be Unknown(Malformed) and never trusted.
fn out_of_contract() -> Vec<(&'static str, pb::TransferResponse)> {
    let s = settled_reply;
    vec![
        (
            "other transaction id",
            pb::TransferResponse {
                transaction_id: "tx-2".into(),
                ..s()
            },
        ),
        (
            "empty transaction id",
            pb::TransferResponse {
                transaction_id: String::new(),
                ..s()
            },
        ),
        (
            "unspecified outcome",
            pb::TransferResponse { outcome: 0, ..s() },
        ),
        (
            "unknown outcome value",
            pb::TransferResponse { outcome: 42, ..s() },
        ),
        (
            "negative outcome value",
            pb::TransferResponse { outcome: -1, ..s() },
        ),
        (
            "settled with an error",
            pb::TransferResponse {
                error: error(pb::ErrorKind::Transport),
                ..s()
            },
        ),
        (
            "settled with a decline reason",
            pb::TransferResponse {
                decline_reason: 1,
                ..s()
            },
        ),
        (
            "balance in another currency",
            pb::TransferResponse {
                balance_after: Some(pb::Money {
                    currency_code: "USD".into(),
                    minor_units: 1,
                }),
                ..s()
            },
        ),
        (
            "balance without a currency",
            pb::TransferResponse {
                balance_after: Some(pb::Money {
                    currency_code: String::new(),
                    minor_units: 1,
                }),
                ..s()
            },
        ),
        (
            "provider reference too long",
            pb::TransferResponse {
                provider_reference: "x".repeat(MAX_PROVIDER_REF_LEN + 1),
                ..s()
            },
        ),
        (
            "provider reference with a control character",
            pb::TransferResponse {
                provider_reference: "a\nb".into(),
                ..s()
            },
        ),
        (
            "declined without a reason",
            pb::TransferResponse {
                outcome: pb::Outcome::Declined as i32,
                balance_after: None,
                provider_reference: String::new(),
                ..s()
            },
        ),
        (
            "declined with an unknown reason",
            pb::TransferResponse {
                outcome: pb::Outcome::Declined as i32,
                decline_reason: 77,
                balance_after: None,
                provider_reference: String::new(),
                ..s()
            },
        ),
        (
            "declined with a balance",
            pb::TransferResponse {
                outcome: pb::Outcome::Declined as i32,
                decline_reason: 1,
                provider_reference: String::new(),
                ..s()
            },
        ),
        (
            "not processed without an error",
            pb::TransferResponse {
                outcome: pb::Outcome::NotProcessed as i32,
                balance_after: None,
                provider_reference: String::new(),
                ..s()
            },
        ),
        (
            "not processed after a transport error",
            pb::TransferResponse {
                outcome: pb::Outcome::NotProcessed as i32,
                balance_after: None,
                provider_reference: String::new(),
                error: error(pb::ErrorKind::Transport),
                ..s()
            },
        ),
        (
            "not processed with an unknown error kind",
            pb::TransferResponse {
                outcome: pb::Outcome::NotProcessed as i32,
                balance_after: None,
                provider_reference: String::new(),
                error: Some(pb::Error {
                    kind: 99,
                    ..Default::default()
                }),
                ..s()
            },
        ),
        ("empty message", pb::TransferResponse::default()),
    ]
}

#[test]
fn out_of_contract_movements_are_unknown_malformed() {
    for (what, reply) in out_of_contract() {
        match transfer(&debit(), Ok(reply.clone())) {
            Outcome::Unknown(AdapterError::Malformed(_)) => {}
            other => panic!("transfer, {what}: {other:?}"),
        }
        let rollback_reply = pb::RollbackResponse {
            transaction_id: if reply.transaction_id == "tx-1" {
                "rb-1".into()
            } else {
                reply.transaction_id.clone()
            },
            outcome: reply.outcome,
            decline_reason: reply.decline_reason,
            balance_after: reply.balance_after.clone(),
            provider_reference: reply.provider_reference.clone(),
            error: reply.error.clone(),
        };
        let req = undo(Some(Money::new(eur(), 250)));
        match rollback(&req, Ok(rollback_reply)) {
            Outcome::Unknown(AdapterError::Malformed(_)) => {}
            other => panic!("rollback, {what}: {other:?}"),
        }
    }
}

#[test]
fn a_rollback_without_an_amount_carries_no_balance() {
    let reply = pb::RollbackResponse {
        transaction_id: "rb-1".into(),
        outcome: pb::Outcome::Settled as i32,
        balance_after: Some(pb_eur(10_000)),
        ..Default::default()
    };
    assert!(matches!(
        rollback(&undo(None), Ok(reply.clone())),
        Outcome::Unknown(AdapterError::Malformed(_))
    ));
    assert!(matches!(
        rollback(&undo(Some(Money::new(eur(), 250))), Ok(reply)),
        Outcome::Settled(_)
    ));
    // The rollback's own id is echoed, not the debit's.
    let debit_id = pb::RollbackResponse {
        transaction_id: "tx-1".into(),
        outcome: pb::Outcome::Settled as i32,
        ..Default::default()
    };
    assert!(matches!(
        rollback(&undo(None), Ok(debit_id)),
        Outcome::Unknown(AdapterError::Malformed(_))
    ));
}

#[test]
fn failed_calls_are_not_processed_only_when_nothing_was_sent() {
    assert!(matches!(
        transfer(&debit(), Err(CallError::Unreachable("refused".into()))),
        Outcome::NotProcessed(AdapterError::Connect(_))
    ));
    assert!(matches!(
        transfer(&debit(), Err(CallError::Unauthenticated)),
        Outcome::NotProcessed(AdapterError::Rejected {
            code: "UNAUTHENTICATED"
        })
    ));
    for code in [1, 2, 4, 8, 12, 13, 14] {
        let failed = CallError::Failed {
            code,
            message: String::new(),
        };
        assert!(
            matches!(
                transfer(&debit(), Err(failed.clone())),
                Outcome::Unknown(AdapterError::Transport(_))
            ),
            "{code}"
        );
        assert!(matches!(
            rollback(&undo(None), Err(failed)),
            Outcome::Unknown(AdapterError::Transport(_))
        ));
    }
}

fn balance_req() -> BalanceRequest {
    BalanceRequest {
        account: AccountId::new("acc-1"),
        currency: eur(),
    }
}

#[test]
fn balances_must_be_in_the_requested_currency() {
    use pb::get_balance_response::Result as R;
    let answer = |result| pb::GetBalanceResponse { result };
    assert_eq!(
        balance(&balance_req(), Ok(answer(Some(R::Balance(pb_eur(-5)))))).ok(),
        Some(Money::new(eur(), -5))
    );
    let usd = pb::Money {
        currency_code: "USD".into(),
        minor_units: 5,
    };
    for bad in [
        None,
        Some(R::Balance(usd)),
        Some(R::DeclineReason(0)),
        Some(R::DeclineReason(50)),
    ] {
        assert!(
            matches!(
                balance(&balance_req(), Ok(answer(bad.clone()))),
                Err(AdapterError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        balance(
            &balance_req(),
            Ok(answer(Some(R::DeclineReason(
                pb::DeclineReason::UnknownAccount as i32
            ))))
        ),
        Err(AdapterError::Declined(DeclineReason::UnknownAccount))
    ));
    assert!(matches!(
        balance(
            &balance_req(),
            Ok(answer(Some(R::Error(pb::Error {
                kind: pb::ErrorKind::Unsupported as i32,
                ..Default::default()
            }))))
        ),
        Err(AdapterError::Unsupported)
    ));
    assert!(matches!(
        balance(&balance_req(), Err(CallError::Unreachable(String::new()))),
        Err(AdapterError::Connect(_))
    ));
}

fn status_req(kind: TxKind) -> StatusRequest {
    StatusRequest {
        tx_id: ProviderTxId::new("tx-1"),
        kind,
        account: AccountId::new("acc-1"),
        amount: Some(Money::new(eur(), 250)),
    }
}

fn status_reply(status: pb::TransactionStatus) -> pb::GetStatusResponse {
    pb::GetStatusResponse {
        transaction_id: "tx-1".into(),
        status: status as i32,
        ..Default::default()
    }
}

#[test]
fn statuses_in_and_out_of_contract() {
    use pb::TransactionStatus as S;
    let debit = status_req(TxKind::Debit);
    assert!(matches!(
        status(&debit, Ok(status_reply(S::Applied))),
        TxStatus::Applied(_)
    ));
    assert!(matches!(
        status(&debit, Ok(status_reply(S::RolledBack))),
        TxStatus::RolledBack
    ));
    assert!(matches!(
        status(&debit, Ok(status_reply(S::NotFound))),
        TxStatus::NotFound
    ));
    let declined = pb::GetStatusResponse {
        decline_reason: pb::DeclineReason::AccountBlocked as i32,
        ..status_reply(S::Declined)
    };
    assert!(matches!(
        status(&debit, Ok(declined)),
        TxStatus::Declined(DeclineReason::AccountBlocked)
    ));
    let bad = [
        (
            "other id",
            pb::GetStatusResponse {
                transaction_id: "tx-2".into(),
                ..status_reply(S::Applied)
            },
        ),
        ("unspecified", status_reply(S::Unspecified)),
        (
            "unknown value",
            pb::GetStatusResponse {
                status: 9,
                ..status_reply(S::Applied)
            },
        ),
        ("declined without a reason", status_reply(S::Declined)),
        (
            "not found with a reference",
            pb::GetStatusResponse {
                provider_reference: "x".into(),
                ..status_reply(S::NotFound)
            },
        ),
        (
            "applied in another currency",
            pb::GetStatusResponse {
                balance_after: Some(pb::Money {
                    currency_code: "JPY".into(),
                    minor_units: 1,
                }),
                ..status_reply(S::Applied)
            },
        ),
    ];
    for (what, reply) in bad {
        assert!(
            matches!(
                status(&debit, Ok(reply)),
                TxStatus::Unknown(AdapterError::Malformed(_))
            ),
            "{what}"
        );
    }
    // Only a debit is ever reversed.
    assert!(matches!(
        status(&status_req(TxKind::Credit), Ok(status_reply(S::RolledBack))),
        TxStatus::Unknown(AdapterError::Malformed(_))
    ));
    assert!(matches!(
        status(&debit, Err(CallError::Unauthenticated)),
        TxStatus::Unknown(AdapterError::Rejected { .. })
    ));
}

fn described() -> pb::DescribeResponse {
    pb::DescribeResponse {
        dialect: "json-hmac".into(),
        balance: true,
        status: true,
        duplicates: pb::DuplicateHabit::ReplaysOriginal as i32,
        rollback_of_unknown: pb::UnknownRollbackHabit::NotFoundError as i32,
        default_timeout: Some(prost_types::Duration {
            seconds: 2,
            nanos: 0,
        }),
    }
}

#[test]
fn descriptions_are_checked() {
    let d = describe(described()).unwrap();
    assert_eq!(d.plugin_dialect, "json-hmac");
    assert_eq!(d.descriptor.dialect, DIALECT);
    assert!(d.descriptor.capabilities.balance && d.descriptor.capabilities.status);
    assert_eq!(d.descriptor.default_timeout, Duration::from_secs(2));
    let duration = |seconds, nanos| Some(prost_types::Duration { seconds, nanos });
    let bad = [
        pb::DescribeResponse {
            dialect: String::new(),
            ..described()
        },
        pb::DescribeResponse {
            dialect: "Upper Case".into(),
            ..described()
        },
        pb::DescribeResponse {
            dialect: "x".repeat(65),
            ..described()
        },
        pb::DescribeResponse {
            duplicates: 0,
            ..described()
        },
        pb::DescribeResponse {
            rollback_of_unknown: 7,
            ..described()
        },
        pb::DescribeResponse {
            default_timeout: None,
            ..described()
        },
        pb::DescribeResponse {
            default_timeout: duration(0, 0),
            ..described()
        },
        pb::DescribeResponse {
            default_timeout: duration(-1, 0),
            ..described()
        },
        pb::DescribeResponse {
            default_timeout: duration(601, 0),
            ..described()
        },
        pb::DescribeResponse {
            default_timeout: duration(1, -5),
            ..described()
        },
    ];
    for reply in bad {
        assert!(describe(reply.clone()).is_err(), "{reply:?}");
    }
}

#[test]
fn printable_cuts_on_char_boundaries() {
    assert_eq!(printable("h\u{e9}llo\n", 3), "h\u{e9}");
    assert_eq!(printable("a\u{7}b", 10), "a?b");
}
