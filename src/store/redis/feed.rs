//! The change feed: `SUBSCRIBE` to the revocation channel, with pings as heartbeats.

use std::time::Duration;

use futures_util::StreamExt;
use redis::{RedisError, Value};

use super::layout::decode_change;
use super::{HINT, RedisStore, bounded};
use crate::error::Result;
use crate::store::{Change, ChangeFeed, Subscription, unavailable};

impl ChangeFeed for RedisStore {
    /// Subscribes to `<prefix>revocations` on a dedicated pub/sub connection (in a cluster, on
    /// the first seed node that answers) and pings it every `max(interval, 250 ms)`: a ping
    /// that fails or times out, or a closed connection, ends the subscription with an error.
    async fn subscribe(&self, interval: Duration) -> Result<Subscription> {
        let url = self.inner.url.clone();
        let timeout = self.inner.parsed.timeout;
        let parsed = &self.inner.parsed;
        let mut last_error = None;
        let mut pubsub = None;
        for (host, port) in &parsed.nodes {
            let attempt = async {
                let client = redis::Client::open(parsed.node_url(host, *port))?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&self.inner.channel).await?;
                Ok::<_, RedisError>(pubsub)
            };
            match bounded(&url, timeout, attempt).await {
                Ok(p) => {
                    pubsub = Some(p);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(pubsub) = pubsub else {
            return Err(
                last_error.unwrap_or_else(|| unavailable(&url, "no node to subscribe to", HINT))
            );
        };
        let (sink, stream) = pubsub.split();
        let ping_every = interval.max(Duration::from_millis(250));
        let state = FeedState {
            sink,
            stream,
            url,
            timeout,
            ping_every,
        };
        let stream = futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            loop {
                tokio::select! {
                    message = state.stream.next() => {
                        let Some(message) = message else {
                            let e = unavailable(&state.url, "subscription closed", HINT);
                            return Some((Err(e), None));
                        };
                        match std::str::from_utf8(message.get_payload_bytes())
                            .ok()
                            .and_then(decode_change)
                        {
                            Some(entry) => return Some((Ok(Change::Revoked(entry)), Some(state))),
                            None => tracing::debug!("ignoring a malformed revocation message"),
                        }
                    }
                    () = tokio::time::sleep(state.ping_every) => {
                        let ping = bounded(&state.url, state.timeout, state.sink.ping::<Value>());
                        return match ping.await {
                            Ok(_) => Some((Ok(Change::Heartbeat), Some(state))),
                            Err(e) => Some((Err(e), None)),
                        };
                    }
                }
            }
        });
        Ok(Subscription::from_stream(stream))
    }
}

struct FeedState {
    sink: redis::aio::PubSubSink,
    stream: redis::aio::PubSubStream,
    url: String,
    timeout: Duration,
    ping_every: Duration,
}
