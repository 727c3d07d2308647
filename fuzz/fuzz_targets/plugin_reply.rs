//! The plugin bridge: any bytes as a plugin's protobuf reply (decoded the
//! way tonic decodes it) through every reply handler, and as a Describe
//! answer. A reply that does not decode is a failed call, as in the bridge.

#![no_main]

mod common;

use adapter_api::{Direction, Outcome, TxKind, TxStatus};
use adapter_plugin::reply::{self, CallError};
use hub_proto::adapter::v1 as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn failed(e: prost::DecodeError) -> CallError {
    CallError::Failed {
        code: 13,
        message: e.to_string(),
    }
}

fuzz_target!(|data: &[u8]| {
    let [op, body @ ..] = data else {
        return;
    };
    match op % 6 {
        0 | 1 => {
            let decoded = pb::TransferResponse::decode(body);
            let echoed = matches!(&decoded, Ok(r) if r.transaction_id == common::TX);
            let direction = if op % 6 == 0 { Direction::Debit } else { Direction::Credit };
            let o = reply::transfer(&common::transfer(direction), decoded.map_err(failed));
            common::check_outcome(&o);
            // Nothing is trusted without the request's id echoed.
            if !matches!(o, Outcome::Unknown(_)) {
                assert!(echoed, "trusted without the id echoed");
            }
        }
        2 => {
            let decoded = pb::RollbackResponse::decode(body);
            let o = reply::rollback(&common::rollback(op & 0x80 == 0), decoded.map_err(failed));
            common::check_outcome(&o);
        }
        3 => {
            let decoded = pb::GetBalanceResponse::decode(body);
            if let Ok(m) = reply::balance(&common::balance(), decoded.map_err(failed)) {
                assert_eq!(m.currency, common::eur());
            }
        }
        4 => {
            let decoded = pb::GetStatusResponse::decode(body);
            let kind = if op & 0x80 == 0 { TxKind::Debit } else { TxKind::Credit };
            let s = reply::status(&common::status(kind), decoded.map_err(failed));
            common::check_status(&s);
            if kind == TxKind::Credit {
                assert!(!matches!(s, TxStatus::RolledBack), "only debits are reversed");
            }
        }
        _ => {
            if let Ok(d) = pb::DescribeResponse::decode(body) {
                if let Ok(described) = reply::describe(d) {
                    assert!(!described.descriptor.default_timeout.is_zero());
                }
            }
        }
    }
});
