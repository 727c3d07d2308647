//! json-rsa: any HTTP status, signature and body through every reply
//! classifier. Half of the inputs are signed with the sample provider key
//! (adapters/samples/json-rsa/keys), so the parser behind the signature
//! check is reached; the other half carry the input's own bytes as the
//! signature.

#![no_main]

mod common;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

use adapter_api::{Direction, TxKind};
use adapter_json_rsa::signing::{Signer, Verifier};
use adapter_json_rsa::transformer::{self as t, RequestUuid, WireReply};
use libfuzzer_sys::fuzz_target;

struct Keys {
    provider: Signer,
    verifier: Verifier,
    uuid: RequestUuid,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/samples/json-rsa/keys");
        Keys {
            provider: Signer::from_pem_file(&dir.join("provider_private.pem")).expect("sample key"),
            verifier: Verifier::from_pem_file(&dir.join("provider_public.pem")).expect("sample key"),
            uuid: RequestUuid::from_str("9a1e0c52-7d3b-4f6a-8b21-000000000002").expect("a UUID"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((status, op, rest)) = common::split(data) else {
        return;
    };
    let keys = keys();
    let signed;
    let (signature, body): (Option<&[u8]>, &[u8]) = if op & 0x80 == 0 {
        signed = keys.provider.sign(rest).expect("signs");
        (Some(signed.as_bytes()), rest)
    } else {
        let cut = rest.first().map_or(0, |n| usize::from(*n).min(rest.len()));
        (Some(&rest[..cut]), &rest[cut..])
    };
    let reply = WireReply {
        status,
        signature,
        body,
    };
    match op % 5 {
        0 => common::check_outcome(&t::classify_transfer(
            &common::transfer(Direction::Debit),
            &keys.uuid,
            &reply,
            &keys.verifier,
        )),
        1 => common::check_outcome(&t::classify_transfer(
            &common::transfer(Direction::Credit),
            &keys.uuid,
            &reply,
            &keys.verifier,
        )),
        2 => common::check_outcome(&t::classify_rollback(
            &common::rollback(true),
            &keys.uuid,
            &reply,
            &keys.verifier,
        )),
        3 => {
            let _ = t::classify_balance(&common::balance(), &keys.uuid, &reply, &keys.verifier);
        }
        _ => common::check_status(&t::classify_status(
            &common::status(TxKind::Debit),
            &keys.uuid,
            &reply,
            &keys.verifier,
        )),
    }
});
