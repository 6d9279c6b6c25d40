//! Where an asynchronous invocation's outcome goes: FC's destination event, to another function of the project
//! (invoked asynchronously) or, for the services that do not run locally (MNS, EventBridge, RocketMQ), one JSON
//! line in `.fcemu/destinations/deliveries.jsonl`.

use crate::async_queue::{Outcome, QueuedEvent};
use crate::control_plane::ControlPlane;
use crate::events::{Event, EventKind, epoch_millis};
use bytes::Bytes;
use fcemu_spec::{AsyncInvokeConfig, Destination};
use http::HeaderValue;
use std::sync::Arc;
use std::time::SystemTime;

impl ControlPlane {
    /// FC's destination event for the outcome, sent where the function's config says; whether it had one.
    pub(crate) fn deliver(
        &self,
        rules: &AsyncInvokeConfig,
        event: &QueuedEvent,
        payload: &Bytes,
        outcome: &Outcome,
    ) -> bool {
        let (destination, status, condition, function_error, body) = match outcome {
            Outcome::Succeeded { status, body } => (&rules.on_success, *status, "", "", body),
            Outcome::Failed {
                status,
                error,
                body,
            } => (
                &rules.on_failure,
                *status,
                error.as_str(),
                error.as_str(),
                body,
            ),
            Outcome::Throttled => return false,
        };
        let Some(destination) = destination else {
            return false;
        };
        let function: Arc<str> = event.function_name.as_str().into();
        let arn = self.function_arn(&function);
        let record = serde_json::json!({
            "timestamp": epoch_millis(SystemTime::now()),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": arn,
                "condition": condition,
                "approximateInvokeCount": event.failed_tries + u32::from(matches!(outcome, Outcome::Succeeded { .. })),
            },
            "requestPayload": String::from_utf8_lossy(payload),
            "responseContext": { "statusCode": status, "functionError": function_error },
            "responsePayload": String::from_utf8_lossy(body),
        });
        let to = match destination {
            Destination::Function { name, .. } if self.function(name).is_some() => {
                let mut headers = http::HeaderMap::new();
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                self.enqueue(name, &headers, Bytes::from(record.to_string()));
                "function"
            }
            _ => {
                self.sink(destination.arn(), &event.function_name, &record);
                "sink"
            }
        };
        self.shared.events.emit(
            Event::new(EventKind::DestinationDelivered, &function, None)
                .request(&event.request_id.as_str().into())
                .with("destination", destination.arn())
                .with("condition", condition)
                .with("to", to),
        );
        true
    }

    /// One JSON line per delivery to a destination that does not run locally.
    fn sink(&self, arn: &str, function: &str, record: &serde_json::Value) {
        let Some(dir) = self
            .shared
            .options
            .state_dir
            .as_ref()
            .map(|d| d.join("destinations"))
        else {
            return;
        };
        let line = serde_json::json!({
            "ts": crate::events::timestamp(SystemTime::now()),
            "destination": arn,
            "functionName": function,
            "event": record,
        });
        let write = || -> std::io::Result<()> {
            crate::files::create_private_dir(&dir)?;
            let mut file = crate::files::append_private(&dir.join("deliveries.jsonl"))?;
            std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes())
        };
        if let Err(e) = write() {
            tracing::warn!("a delivery to {arn} was not written: {e}");
        }
    }
}
