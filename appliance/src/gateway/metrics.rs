//! Prometheus metrics of the gateway, by kind (`chat`/`tool`), provider, model and status
//! (`ok`, `refused`, `failed`): requests, latency, time to first token, tokens and cost.
//! Registered in the appliance's registry (`/metrics`). Labels come from run tokens and the
//! deployment's provider names, never from request bodies, so they stay bounded.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    kind: String,
    provider: String,
    model: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: String,
    model: String,
    direction: String,
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// The gateway's metric families (cheap to clone).
#[derive(Clone)]
pub struct GatewayMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<ModelLabels, Histogram, fn() -> Histogram>,
    ttft: Family<ModelLabels, Histogram, fn() -> Histogram>,
    tokens: Family<TokenLabels, Counter>,
    cost_micros: Family<ModelLabels, Counter>,
}

impl std::fmt::Debug for GatewayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatewayMetrics")
    }
}

impl GatewayMetrics {
    /// Creates and registers the families.
    pub fn register(registry: &mut Registry) -> GatewayMetrics {
        let m = GatewayMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(histogram),
            ttft: Family::new_with_constructor(histogram),
            tokens: Family::default(),
            cost_micros: Family::default(),
        };
        registry.register(
            "gateway_requests",
            "Gateway requests by kind, provider, model and status",
            m.requests.clone(),
        );
        registry.register(
            "gateway_request_seconds",
            "Gateway request latency (to the last byte) by provider and model",
            m.latency.clone(),
        );
        registry.register(
            "gateway_time_to_first_token_seconds",
            "Time to the first token of chat answers by provider and model",
            m.ttft.clone(),
        );
        registry.register(
            "gateway_tokens",
            "Tokens by provider, model and direction (input/output)",
            m.tokens.clone(),
        );
        registry.register(
            "gateway_cost_micros",
            "Cost from the price table, in millionths of the price unit",
            m.cost_micros.clone(),
        );
        m
    }

    /// Records one finished request.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &self,
        kind: &str,
        provider: &str,
        model: &str,
        status: &str,
        latency: Duration,
        ttft: Option<Duration>,
        input: u64,
        output: u64,
        cost: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                kind: kind.into(),
                provider: provider.into(),
                model: model.into(),
                status: status.into(),
            })
            .inc();
        if kind != "chat" {
            return;
        }
        let labels = ModelLabels {
            provider: provider.into(),
            model: model.into(),
        };
        self.latency
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
        if let Some(t) = ttft {
            self.ttft.get_or_create(&labels).observe(t.as_secs_f64());
        }
        for (direction, n) in [("input", input), ("output", output)] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        provider: provider.into(),
                        model: model.into(),
                        direction: direction.into(),
                    })
                    .inc_by(n);
            }
        }
        if cost > 0.0 {
            self.cost_micros
                .get_or_create(&labels)
                .inc_by((cost * 1_000_000.0).round() as u64);
        }
    }
}
