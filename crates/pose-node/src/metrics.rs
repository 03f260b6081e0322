//! Prometheus metrics of one node, served at `GET /metrics` in the OpenMetrics text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the per-route request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The API route, e.g. `messages`.
    pub route: &'static str,
    /// `ok`, `rejected`, `too_large`, `busy`.
    pub outcome: &'static str,
}

/// Labels of per-contract gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ContractLabels {
    /// The contract id.
    pub cid: u64,
}

/// Labels of the stall counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StallLabels {
    /// The limit that stopped a contract (`message_bytes`, `sealing`).
    pub limit: &'static str,
}

/// Every metric the node exports.
pub struct Metrics {
    registry: Registry,
    /// API requests by route and outcome.
    pub requests: Family<RouteLabels, Counter>,
    /// Time from receiving a message to the enclave having handled it, in seconds.
    pub handle_seconds: Histogram,
    /// Messages the enclave asked to send to other enclaves (state-update fan-out and acks).
    pub peer_messages_sent: Counter,
    /// Messages queued for users (replies, receipts).
    pub user_messages_queued: Counter,
    /// Chain transactions submitted for the enclave.
    pub chain_submissions: Counter,
    /// Confirmed chain transactions handed to the enclave.
    pub chain_events: Counter,
    /// Current epoch per contract.
    pub epoch: Family<ContractLabels, Gauge>,
    /// Latest sequence number per contract.
    pub seq: Family<ContractLabels, Gauge>,
    /// Blocks between the chain head and the last block handed to the enclave.
    pub chain_lag_blocks: Gauge,
    /// Times a limit stopped a contract's progress, by limit.
    pub stalls: Family<StallLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pose");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests by route and outcome",
            requests.clone(),
        );
        let handle_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register(
            "handle_seconds",
            "Time for the enclave to handle one message",
            handle_seconds.clone(),
        );
        let peer_messages_sent = Counter::default();
        registry.register(
            "peer_messages_sent",
            "Messages sent to other enclaves",
            peer_messages_sent.clone(),
        );
        let user_messages_queued = Counter::default();
        registry.register(
            "user_messages_queued",
            "Messages queued for users",
            user_messages_queued.clone(),
        );
        let chain_submissions = Counter::default();
        registry.register(
            "chain_submissions",
            "Chain transactions submitted",
            chain_submissions.clone(),
        );
        let chain_events = Counter::default();
        registry.register(
            "chain_events",
            "Confirmed chain transactions handed to the enclave",
            chain_events.clone(),
        );
        let epoch = Family::<ContractLabels, Gauge>::default();
        registry.register("epoch", "Current epoch per contract", epoch.clone());
        let seq = Family::<ContractLabels, Gauge>::default();
        registry.register("seq", "Latest sequence number per contract", seq.clone());
        let chain_lag_blocks = Gauge::default();
        registry.register(
            "chain_lag_blocks",
            "Blocks the enclave is behind the chain head",
            chain_lag_blocks.clone(),
        );
        let stalls = Family::<StallLabels, Counter>::default();
        registry.register(
            "stalls",
            "Times a limit stopped a contract, by limit",
            stalls.clone(),
        );
        Self {
            registry,
            requests,
            handle_seconds,
            peer_messages_sent,
            user_messages_queued,
            chain_submissions,
            chain_events,
            epoch,
            seq,
            chain_lag_blocks,
            stalls,
        }
    }
}

impl Metrics {
    /// Counts one API request.
    pub fn count(&self, route: &'static str, outcome: &'static str) {
        self.requests
            .get_or_create(&RouteLabels { route, outcome })
            .inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_are_counted_by_limit() {
        let m = Metrics::default();
        m.stalls
            .get_or_create(&StallLabels {
                limit: "message_bytes",
            })
            .inc();
        let text = m.render();
        assert!(
            text.contains("pose_stalls_total{limit=\"message_bytes\"} 1"),
            "{text}"
        );
    }
}
