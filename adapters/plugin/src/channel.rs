//! The gRPC channel to a plugin: a connector for Unix sockets and loopback
//! TCP that marks its own failures, so that "could not connect" (nothing was
//! sent: `NotProcessed`) can be told apart from every other failure (the call
//! may have reached the plugin: `Unknown`).

use std::time::Duration;

use hub_proto::adapter::v1::adapter_service_client::AdapterServiceClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

use crate::config::Address;
use crate::reply::CallError;

/// Longest reply accepted from a plugin, in bytes. A reply is a handful of
/// short fields; anything longer is out of contract.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The connector could not open a connection to the plugin: no byte of any
/// call was written. Found in a failed call's error chain by [`call_error`].
#[derive(Debug, thiserror::Error)]
#[error("could not connect to the plugin at {address}")]
pub struct Unreachable {
    address: String,
    #[source]
    source: std::io::Error,
}

/// A lazily connecting client; connections are made (and remade after the
/// plugin restarts) on demand. Needs a Tokio runtime.
pub(crate) fn client(
    address: &Address,
    connect_timeout: Duration,
) -> AdapterServiceClient<Channel> {
    // The URI is only for HTTP/2's `:authority`; the connector ignores it.
    let endpoint = Endpoint::from_static("http://plugin.invalid");
    let shown = address.to_string();
    let channel = match address.clone() {
        Address::Unix(path) => {
            endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
                let path = path.clone();
                let shown = shown.clone();
                async move {
                    let stream = connect(
                        shown,
                        connect_timeout,
                        tokio::net::UnixStream::connect(path),
                    )
                    .await?;
                    Ok::<_, Unreachable>(TokioIo::new(stream))
                }
            }))
        }
        Address::Tcp(addr) => {
            endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
                let shown = shown.clone();
                async move {
                    let stream =
                        connect(shown, connect_timeout, tokio::net::TcpStream::connect(addr))
                            .await?;
                    stream.set_nodelay(true).ok();
                    Ok::<_, Unreachable>(TokioIo::new(stream))
                }
            }))
        }
    };
    AdapterServiceClient::new(channel).max_decoding_message_size(MAX_REPLY_BYTES)
}

async fn connect<S>(
    address: String,
    timeout: Duration,
    connecting: impl Future<Output = std::io::Result<S>>,
) -> Result<S, Unreachable> {
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(source)) => Err(Unreachable { address, source }),
        Err(_) => Err(Unreachable {
            address,
            source: std::io::ErrorKind::TimedOut.into(),
        }),
    }
}

/// Longest part of a plugin's status message kept in an error.
const MAX_KEPT_MESSAGE: usize = 256;

/// What a failed call means for classification.
pub(crate) fn call_error(status: tonic::Status) -> CallError {
    let mut source = std::error::Error::source(&status);
    while let Some(error) = source {
        if error.downcast_ref::<Unreachable>().is_some() {
            return CallError::Unreachable(error.to_string());
        }
        source = error.source();
    }
    match status.code() {
        tonic::Code::Unauthenticated => CallError::Unauthenticated,
        code => CallError::Failed {
            code: code as i32,
            message: crate::reply::printable(status.message(), MAX_KEPT_MESSAGE),
        },
    }
}
