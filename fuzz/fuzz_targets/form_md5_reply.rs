//! form-md5: any HTTP status and body through every reply classifier.

#![no_main]

mod common;

use adapter_api::Direction;
use adapter_form_md5::transformer as t;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, op, body)) = common::split(data) else {
        return;
    };
    match op % 4 {
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
        _ => {
            if let Ok(m) = t::classify_balance(&common::balance(), status, body) {
                assert!(m.minor_units >= 0, "form-md5 has no overdraft");
            }
        }
    }
});
