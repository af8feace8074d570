//! CloudWatch embedded metric format (EMF): each metric event of
//! [`secure2fa_core::metrics`] becomes one JSON line on stdout, which
//! CloudWatch Logs turns into a data point of namespace `Secure2FA`,
//! dimension `Service` (the stack name, from `METRICS_SERVICE`), with the
//! event's detail (a route, a provider) kept as a searchable property.
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use secure2fa_core::metrics::{NAMESPACE, TARGET};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Writes the EMF line of every metric event to `out`.
pub struct EmfLayer {
    service: String,
    out: Arc<dyn Fn(String) + Send + Sync>,
}

impl EmfLayer {
    /// Lines to standard output, where Lambda's log capture reads them.
    pub fn stdout(service: String) -> Self {
        Self::new(service, Arc::new(|line| println!("{line}")))
    }

    pub fn new(service: String, out: Arc<dyn Fn(String) + Send + Sync>) -> Self {
        Self { service, out }
    }
}

#[derive(Default)]
struct Fields {
    metric: Option<String>,
    detail: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "metric" => self.metric = Some(value.to_owned()),
            "detail" => self.detail = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for EmfLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some(metric) = fields.metric {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
            (self.out)(emf_line(&self.service, &metric, fields.detail.as_deref().unwrap_or(""), now));
        }
    }
}

/// One data point of `metric` (a count of 1).
pub fn emf_line(service: &str, metric: &str, detail: &str, timestamp_ms: u64) -> String {
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": [{ "Name": metric, "Unit": "Count" }],
            }],
        },
        "Service": service,
        "detail": detail,
    });
    line[metric] = json!(1);
    line.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use secure2fa_core::metrics;
    use serde_json::Value;
    use tracing_subscriber::prelude::*;

    use super::*;

    #[test]
    fn a_metric_event_becomes_one_emf_line_and_nothing_else_does() {
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let layer = EmfLayer::new("stack-a".into(), Arc::new(move |l| sink.lock().unwrap().push(l)));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(metric = "NotAMetric", "an ordinary log line with a metric field");
            metrics::count(metrics::DELIVERIES_FAILED, "twilio");
        });
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Secure2FA");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(directive["Metrics"], json!([{ "Name": "DeliveriesFailed", "Unit": "Count" }]));
        assert!(v["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000, "milliseconds");
        // Every dimension and metric the directive names is a member of the line.
        assert_eq!((v["Service"].as_str(), v["DeliveriesFailed"].as_u64()), (Some("stack-a"), Some(1)));
        assert_eq!(v["detail"], "twilio");
    }

    /// A 5xx answered by any route counts once, with the route (not the
    /// path, which may hold ids) as its detail; a 4xx counts nothing.
    #[tokio::test]
    async fn a_server_error_answer_is_counted_by_route() {
        use axum::http::{Request, StatusCode};
        use axum::routing::get;
        use tower::ServiceExt;

        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let layer = EmfLayer::new("stack-a".into(), Arc::new(move |l| sink.lock().unwrap().push(l)));
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        let router = secure2fa_http::with_edge_layers(
            axum::Router::new()
                .route("/v1/things/{id}", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
                .route("/v1/bad", get(|| async { StatusCode::BAD_REQUEST })),
        );
        for path in ["/v1/things/cli_123", "/v1/bad"] {
            let response = router.clone().oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap()).await;
            assert!(response.is_ok());
        }
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!((v["ServerErrors"].as_u64(), v["detail"].as_str()), (Some(1), Some("/v1/things/{id}")));
    }
}
