//! A sandbox json-rsa provider: a real HTTP server that plays the provider
//! described in `providers/json-rsa.md`, with its own ledger of users and
//! transactions, RSA-signed in both directions.
//!
//! It is written the way that provider would write it and shares no wire,
//! signing or conversion code with the hub's json-rsa adapter, so a
//! misreading of the spec on either side shows up as a disagreement instead
//! of passing on both. The dialect ([`JsonRsa`]: wire, signatures, ledger,
//! business rules) is this crate; the server, fault injection, counters and
//! the control surface are [`sandbox_kit`]'s, and [`Sandbox`] is the kit's
//! handle for this dialect.
//!
//! Tests start one with [`Sandbox::start_local`] and
//! [`SandboxConfig::setup`], seed users (balances in 1e-5 of the currency:
//! EUR 12.50 is `1250000`), point the adapter at [`Sandbox::base_url`],
//! switch [`Fault`]s on and off, and audit the provider's books with
//! [`Sandbox::ledger`] (a [`LedgerSnapshot`]). The same is reachable over
//! HTTP under `/control/` when [`SandboxConfig::control`] is set (see
//! [`sandbox_kit`] for the routes; a seed's `account` is the user, its
//! `blocked` means disabled).
//!
//! Dialect rules in short (details on [`JsonRsa`] and in the `ledger`
//! module): every reply is signed (`X-Signature`, base64 RSA-SHA256 PKCS#1
//! v1.5 of the body) and every business answer, a bad request signature
//! included, is HTTP 200 with a `status` string; the same
//! `transaction_uuid` with the same parameters gets the original answer with
//! the new `request_uuid`, with other parameters
//! `RS_ERROR_DUPLICATE_TRANSACTION`; a rollback of an unknown id is `RS_OK`
//! and leaves a tombstone that refuses a later bet with that id
//! (`RS_ERROR_TRANSACTION_ROLLED_BACK`); a rollback of a win is
//! `RS_ERROR_NOT_REVERSIBLE`; a second rollback gets the first one's answer.
//! Any positive integer amount of 1e-5 units is accepted: this provider has
//! no notion of the caller's minor units.

mod dialect;
mod ledger;
mod signature;
mod wire;

pub use sandbox_kit::{
    AccountSeed, DEFAULT_SEED, Fault, FaultError, FaultKind, RequestStats, SeedParseError, Setup,
};

pub use dialect::JsonRsa;
pub use ledger::{
    AccountSnapshot, Answer, Ledger, LedgerSnapshot, Tombstone, TransactionRecord, TxKind, TxState,
};
pub use signature::{
    DEMO_IMPOSTOR_PRIVATE_PEM, DEMO_OPERATOR_PUBLIC_PEM, DEMO_PROVIDER_PRIVATE_PEM, KeyConfig,
    KeyError, KeySource, Keys, SIGNATURE_HEADER,
};
pub use wire::{Endpoint, Status, TxStateName};

/// A running sandbox json-rsa provider: the kit's handle for [`JsonRsa`].
/// Start it from [`SandboxConfig::setup`] (or any [`Setup`]); it stops on
/// `shutdown().await` or when dropped.
pub type Sandbox = sandbox_kit::Sandbox<JsonRsa>;

/// How a sandbox behaves. The default is the demo keys, no control surface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The operator's public key, this provider's private key and the
    /// impostor's key (PEM text or paths).
    pub keys: KeyConfig,
    /// Serve the test-only control surface under `/control/`.
    pub control: bool,
}

impl SandboxConfig {
    /// Loads the keys: what [`Sandbox::start`] needs.
    pub fn setup(&self) -> Result<Setup<JsonRsa>, KeyError> {
        Ok(Setup::new(JsonRsa::from_config(&self.keys)?).with_control(self.control))
    }
}

impl TryFrom<SandboxConfig> for Setup<JsonRsa> {
    type Error = KeyError;

    fn try_from(config: SandboxConfig) -> Result<Self, KeyError> {
        config.setup()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_becomes_a_setup() {
        let setup = SandboxConfig {
            control: true,
            ..SandboxConfig::default()
        }
        .setup()
        .expect("demo keys");
        assert!(setup.control);
        let broken = SandboxConfig {
            keys: KeyConfig {
                provider_private_key: KeySource::Pem(String::new()),
                ..KeyConfig::default()
            },
            control: false,
        };
        assert!(matches!(
            Setup::<JsonRsa>::try_from(broken),
            Err(KeyError::PrivateKey {
                field: "provider_private_key",
                ..
            })
        ));
    }
}
