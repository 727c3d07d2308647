//! json-hmac: any HTTP status and body through every reply classifier.

#![no_main]

mod common;

use adapter_api::{Direction, TxKind};
use adapter_json_hmac::transformer as t;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, op, body)) = common::split(data) else {
        return;
    };
    match op % 6 {
        0 => common::check_outcome(&t::classify_transfer(
            &common::transfer(Direction::Debit),
            status,
            body,
        )),
        1 => common::check_outcome(&t::classify_transfer(
            &common::transfer(Direction::Credit),
            status,
            body,
        )),
        2 => common::check_outcome(&t::classify_rollback(&common::rollback(true), status, body)),
        3 => common::check_outcome(&t::classify_rollback(&common::rollback(false), status, body)),
        4 => {
            if let Ok(m) = t::classify_balance(&common::balance(), status, body) {
                assert!(m.minor_units >= 0, "json-hmac has no overdraft");
            }
        }
        _ => common::check_status(&t::classify_status(
            &common::status(TxKind::Debit),
            status,
            body,
        )),
    }
});
