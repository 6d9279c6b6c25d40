//! A function's `triggers`: its HTTP trigger, and the triggers that fire it from events: timers, run on their
//! schedule, and event sources (OSS, MNS topics, Log Service, EventBridge, Tablestore, CDN), whose services do
//! not run locally and which `fcemu trigger` fires with an event in that source's shape.

use crate::fields::{Cx, Fields, describe};
use crate::model::{Edition, HttpTrigger};
use crate::timer::Schedule;
use serde::Serialize;

/// The trigger types FC fires from events, as `triggerType` names them.
pub const EVENT_TRIGGER_TYPES: [&str; 7] = [
    "timer",
    "oss",
    "mns_topic",
    "log",
    "eventbridge",
    "tablestore",
    "cdn_events",
];

/// A trigger that fires the function from events, not from HTTP requests.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventTrigger {
    pub name: String,
    /// `triggerType`: one of [`EVENT_TRIGGER_TYPES`].
    pub trigger_type: String,
    /// `sourceArn`: the bucket, topic, project or table the events come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    /// `triggerConfig` as written (FC 3.0's keys, or FC 2.0's `config`), which the source's event is shaped
    /// from.
    pub config: serde_json::Value,
    /// A timer's schedule and payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer: Option<Timer>,
}

/// A timer trigger's `cronExpression`, `payload` and `enable`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timer {
    pub cron_expression: String,
    #[serde(skip)]
    pub schedule: Schedule,
    pub payload: String,
    pub enable: bool,
}

impl PartialEq for Timer {
    /// The schedule is read from the expression: equal expressions are equal schedules.
    fn eq(&self, other: &Self) -> bool {
        (&self.cron_expression, &self.payload, self.enable)
            == (&other.cron_expression, &other.payload, other.enable)
    }
}

/// A function's triggers, read.
#[derive(Default)]
pub(crate) struct Triggers {
    pub http: Option<HttpTrigger>,
    pub events: Vec<EventTrigger>,
}

pub(crate) fn triggers(cx: &mut Cx, edition: Edition, p: &Fields) -> Triggers {
    let mut out = Triggers::default();
    let Some(list) = p.get("triggers") else {
        return out;
    };
    let Some(items) = list.as_sequence() else {
        cx.error(
            &p.field("triggers"),
            format!("must be a list, found {}", describe(list)),
        );
        return out;
    };
    let (name_key, type_key, config_key) = match edition {
        Edition::Fc3 => ("triggerName", "triggerType", "triggerConfig"),
        Edition::Fc2 => ("name", "type", "config"),
    };
    for (i, item) in items.iter().enumerate() {
        let t = Fields::new(cx, Some(item), format!("{}[{i}]", p.field("triggers")));
        let kind = t.string(cx, type_key).unwrap_or_default();
        let config = t.sub(cx, config_key);
        if kind == "http" {
            let name = t.string(cx, name_key).unwrap_or_else(|| "http".into());
            let methods = http_methods(cx, &config)
                .unwrap_or_else(|| HTTP_METHODS.iter().map(|m| m.to_string()).collect());
            let auth = crate::auth::trigger_auth(cx, &config, "authType", "authConfig");
            out.http = Some(HttpTrigger {
                name,
                methods,
                auth,
            });
            continue;
        }
        if !EVENT_TRIGGER_TYPES.contains(&kind.as_str()) {
            cx.warnings.push(format!(
                "{}: a `{kind}` trigger is accepted but not emulated (fcemu fires http, {})",
                t.path,
                EVENT_TRIGGER_TYPES.join(", ")
            ));
            continue;
        }
        let Some(name) = t.required_string(cx, name_key, "the trigger's name") else {
            continue;
        };
        if out.events.iter().any(|e| e.name == name) {
            cx.error(
                &t.field(name_key),
                format!("is \"{name}\", the name of another trigger of this function; allowed: a name of its own"),
            );
            continue;
        }
        let timer = match kind.as_str() {
            "timer" => match timer(cx, &config) {
                Some(timer) => Some(timer),
                None => continue,
            },
            _ => None,
        };
        let written = config.map.map(|m| serde_yaml::Value::Mapping(m.clone()));
        out.events.push(EventTrigger {
            name,
            trigger_type: kind,
            source_arn: t.string(cx, "sourceArn"),
            config: written
                .and_then(|v| serde_json::to_value(v).ok())
                .unwrap_or_else(|| serde_json::json!({})),
            timer,
        });
    }
    out
}

fn timer(cx: &mut Cx, config: &Fields) -> Option<Timer> {
    let cron_expression = config.required_string(
        cx,
        "cronExpression",
        "when the timer fires: @every 5m, or six cron fields in UTC such as 0 0 4 * * *",
    )?;
    let schedule = match cron_expression.parse::<Schedule>() {
        Ok(schedule) => schedule,
        Err(message) => {
            cx.error(&config.field("cronExpression"), message);
            return None;
        }
    };
    Some(Timer {
        cron_expression,
        schedule,
        payload: config.string(cx, "payload").unwrap_or_default(),
        enable: config.boolean(cx, "enable", true),
    })
}

impl EventTrigger {
    /// The trigger as FC 3.0 props write it (UpdateFunction writes a function back before reading it).
    pub(crate) fn to_props(&self) -> serde_json::Value {
        let mut props = serde_json::json!({
            "triggerName": self.name,
            "triggerType": self.trigger_type,
            "triggerConfig": self.config,
        });
        if let Some(arn) = &self.source_arn {
            props["sourceArn"] = arn.clone().into();
        }
        props
    }

    /// Whether a timer's schedule runs it (an event source's trigger fires only when asked).
    pub fn is_enabled_timer(&self) -> bool {
        self.timer.as_ref().is_some_and(|t| t.enable)
    }
}

pub(crate) const HTTP_METHODS: [&str; 7] =
    ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

/// The `methods` a trigger or a route lists, upper-case, each checked; None when it lists none.
pub(crate) fn http_methods(cx: &mut Cx, fields: &Fields) -> Option<Vec<String>> {
    let methods: Vec<String> = fields
        .string_list(cx, "methods")?
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    for (j, m) in methods.iter().enumerate() {
        if !HTTP_METHODS.contains(&m.as_str()) {
            cx.error(
                &format!("{}[{j}]", fields.field("methods")),
                format!("is {m}, allowed: {}", HTTP_METHODS.join(", ")),
            );
        }
    }
    Some(methods)
}
