"""An adapter plugin for the hub: the json-hmac provider dialect, served as
adapter.v1 (proto/adapter/v1/adapter.proto) over gRPC.

`dialect` holds the provider's wire format and the classification of its
replies, as pure functions; `server` is the gRPC service around them.
"""
