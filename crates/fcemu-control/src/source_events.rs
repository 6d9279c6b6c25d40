//! The event a trigger's source sends, in that source's FC shape, filled from the trigger's configuration: a
//! timer's `{triggerTime, triggerName, payload}`, an OSS notification for the trigger's bucket and events,
//! an MNS topic's message (STREAM or JSON), a Log Service job's shard cursors, an EventBridge CloudEvent
//! matching the rule's pattern, Tablestore's CBOR records and a CDN event. What fcemu cannot know (the
//! object's size, the cursors' values) is the shape's, made up plainly.

use crate::events::epoch_millis;
use fcemu_spec::EventTrigger;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a fired trigger's event is made from besides its configuration.
pub struct Firing<'a> {
    pub region: &'a str,
    pub account: &'a str,
    /// `fcemu trigger --data`: the OSS object's key, the MNS message, the EventBridge data, the Tablestore
    /// row's key, the CDN object path.
    pub data: Option<&'a str>,
    pub at: SystemTime,
}

/// The trigger's event. An error says why the source would not send one (an OSS key outside the
/// trigger's filter).
pub fn source_event(trigger: &EventTrigger, firing: &Firing) -> Result<Vec<u8>, String> {
    let config = &trigger.config;
    let event = match trigger.trigger_type.as_str() {
        "timer" => json!({
            "triggerTime": humantime::format_rfc3339_seconds(firing.at).to_string(),
            "triggerName": trigger.name,
            "payload": trigger.timer.as_ref().map(|t| t.payload.as_str()).unwrap_or_default(),
        }),
        "oss" => oss_event(trigger, firing)?,
        "mns_topic" => return Ok(mns_event(trigger, firing)),
        "log" => log_event(trigger, firing),
        "eventbridge" => eventbridge_event(trigger, firing),
        "tablestore" => return Ok(tablestore_event(firing)),
        "cdn_events" => cdn_event(config, firing),
        other => return Err(format!("a `{other}` trigger has no event fcemu makes")),
    };
    Ok(serde_json::to_vec(&event).expect("JSON values serialize"))
}

/// A field of the configuration under FC 3.0's key (`prefix`) or FC 2.0's (`Prefix`).
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let mut upper = key.to_string();
    upper[..1].make_ascii_uppercase();
    v.get(key).or_else(|| v.get(upper.as_str()))
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    field(v, key).and_then(Value::as_str)
}

/// The last part of `sourceArn` after `marker` (`acs:oss:REGION:ACCOUNT:BUCKET` with marker `:`).
fn arn_tail<'a>(trigger: &'a EventTrigger, marker: &str) -> Option<&'a str> {
    let arn = trigger.source_arn.as_deref()?;
    arn.rsplit_once(marker).map(|(_, tail)| tail)
}

fn rfc3339_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode_upper(Md5::digest(bytes))
}

/// An id of the usual 32 hex digits, for the ids a source gives its requests and messages.
fn random_hex() -> String {
    hex::encode_upper(fastrand::u128(..).to_be_bytes())
}

fn oss_event(trigger: &EventTrigger, firing: &Firing) -> Result<Value, String> {
    let config = &trigger.config;
    let bucket = arn_tail(trigger, ":")
        .or_else(|| text(config, "bucketName"))
        .unwrap_or("bucket");
    let key_filter = field(config, "filter").and_then(|f| field(f, "key"));
    let prefix = key_filter.and_then(|k| text(k, "prefix")).unwrap_or("");
    let suffix = key_filter.and_then(|k| text(k, "suffix")).unwrap_or("");
    let key = match firing.data {
        Some(key) => key.to_string(),
        None => format!("{prefix}example{suffix}"),
    };
    if !key.starts_with(prefix) || !key.ends_with(suffix) {
        return Err(format!(
            "OSS would not fire trigger {} for the key `{key}`: its filter takes keys starting with `{prefix}` and ending with `{suffix}`",
            trigger.name
        ));
    }
    // The first event the trigger names, as OSS reports it: without `oss:`, a wildcard as its usual case.
    let named = field(config, "events")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .and_then(Value::as_str)
        .unwrap_or("oss:ObjectCreated:PutObject");
    let name = named.trim_start_matches("oss:");
    let name = match name {
        "ObjectCreated:*" => "ObjectCreated:PutObject",
        "ObjectRemoved:*" => "ObjectRemoved:DeleteObject",
        other => other,
    };
    Ok(json!({ "events": [{
        "eventName": name,
        "eventSource": "acs:oss",
        "eventTime": rfc3339_millis(firing.at),
        "eventVersion": "1.0",
        "oss": {
            "bucket": {
                "arn": format!("acs:oss:{}:{}:{bucket}", firing.region, firing.account),
                "name": bucket,
                "ownerIdentity": firing.account,
                "virtualBucket": "",
            },
            // The object is an empty one: its size is 0 and its eTag the MD5 of nothing.
            "object": { "deltaSize": 0, "eTag": md5_hex(b""), "key": key, "size": 0 },
            "ossSchemaVersion": "1.0",
            "ruleId": random_hex().to_lowercase(),
        },
        "region": firing.region,
        "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": { "requestId": random_hex()[..24].to_string() },
        "userIdentity": { "principalId": firing.account },
    }]}))
}

/// An MNS topic's notification: the message itself (`notifyContentFormat: STREAM`, the default), or the
/// JSON envelope around it.
fn mns_event(trigger: &EventTrigger, firing: &Firing) -> Vec<u8> {
    let message = firing.data.unwrap_or("hello topic");
    if text(&trigger.config, "notifyContentFormat") != Some("JSON") {
        return message.as_bytes().to_vec();
    }
    let topic = arn_tail(trigger, "/topics/")
        .or_else(|| text(&trigger.config, "topicName"))
        .unwrap_or("topic");
    let event = json!({
        "TopicOwner": firing.account,
        "Message": message,
        "Subscriber": firing.account,
        "PublishTime": epoch_millis(firing.at),
        "SubscriptionName": format!("fc-{}", trigger.name),
        "MessageMD5": md5_hex(message.as_bytes()),
        "TopicName": topic,
        "MessageId": random_hex(),
    });
    serde_json::to_vec(&event).expect("JSON values serialize")
}

fn log_event(trigger: &EventTrigger, firing: &Firing) -> Value {
    let config = &trigger.config;
    let project = arn_tail(trigger, "project/")
        .or_else(|| field(config, "logConfig").and_then(|l| text(l, "project")))
        .unwrap_or("project");
    let logstore = field(config, "sourceConfig")
        .and_then(|s| text(s, "logstore"))
        .unwrap_or("logstore");
    let at = epoch_millis(firing.at);
    let cursor = |n: u64| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(n.to_string())
    };
    json!({
        "parameter": field(config, "functionParameter").cloned().unwrap_or_else(|| json!({})),
        "source": {
            "endpoint": format!("http://{}-intranet.log.aliyuncs.com", firing.region),
            "projectName": project,
            "logstoreName": logstore,
            "shardId": 0,
            "beginCursor": cursor(at * 1000),
            "endCursor": cursor(at * 1000 + 1),
        },
        "jobName": random_hex().to_lowercase(),
        "taskId": uuid_like(),
        "cursorTime": at / 1000,
    })
}

/// A CloudEvent as EventBridge delivers it, its `source` and `type` the first the rule's pattern takes.
fn eventbridge_event(trigger: &EventTrigger, firing: &Firing) -> Value {
    let pattern: Value = text(&trigger.config, "eventRuleFilterPattern")
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let first = |key: &str, default: &str| {
        pattern
            .get(key)
            .and_then(Value::as_array)
            .and_then(|v| v.first())
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let data = match firing.data {
        Some(d) => serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.into())),
        None => json!({}),
    };
    let bus = field(&trigger.config, "eventSourceConfig")
        .and_then(|s| field(s, "eventSourceParameters"))
        .and_then(|p| p.as_object())
        .and_then(|p| p.values().find_map(|v| text(v, "eventBusName")))
        .unwrap_or("default")
        .to_string();
    json!({
        "id": uuid_like(),
        "source": first("source", "fcemu.trigger"),
        "specversion": "1.0",
        "type": first("type", "fcemu:Trigger:Fired"),
        "datacontenttype": "application/json;charset=utf-8",
        "subject": format!("acs:fc:{}:{}:functions/{}", firing.region, firing.account, trigger.name),
        "time": rfc3339_millis(firing.at),
        "aliyunaccountid": firing.account,
        "aliyunpublishtime": rfc3339_millis(firing.at),
        "aliyuneventbusname": bus,
        "aliyunregionid": firing.region,
        "aliyunpublishaddr": "127.0.0.1",
        "data": data,
    })
}

/// Tablestore's stream records, CBOR-encoded as FC sends them: one PutRow whose primary key `id` is the
/// data given (or 1), or the records of `--data` when it is Tablestore's `{"Version","Records"}` JSON.
fn tablestore_event(firing: &Firing) -> Vec<u8> {
    let given: Option<Value> = firing.data.and_then(|d| serde_json::from_str(d).ok());
    let records = match given {
        Some(v) if v.get("Records").is_some() => v,
        _ => {
            let key = firing.data.unwrap_or("1");
            let micros = firing
                .at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            json!({
                "Version": "Sync-v1",
                "Records": [{
                    "Type": "PutRow",
                    "Info": { "Timestamp": micros },
                    "PrimaryKey": [{ "ColumnName": "id", "Value": key }],
                    "Columns": [{ "Type": "Put", "ColumnName": "value", "Value": "fcemu", "Timestamp": micros / 1000 }],
                }],
            })
        }
    };
    let mut out = Vec::new();
    ciborium::into_writer(&records, &mut out).expect("JSON values encode as CBOR");
    out
}

fn cdn_event(config: &Value, firing: &Firing) -> Value {
    let domain = field(config, "filter")
        .and_then(|f| field(f, "domain"))
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(Value::as_str)
        .unwrap_or("example.com");
    let secs = epoch_millis(firing.at) / 1000;
    json!({ "events": [{
        "eventName": text(config, "eventName").unwrap_or("CachedObjectsRefreshed"),
        "eventVersion": text(config, "eventVersion").unwrap_or("1.0.0"),
        "eventSource": "cdn",
        "region": firing.region,
        "eventTime": humantime::format_rfc3339_seconds(firing.at).to_string(),
        "traceId": uuid_like(),
        "resource": { "domain": domain },
        "eventParameter": {
            "objectPath": [firing.data.unwrap_or("/index.html")],
            "createTime": secs,
            "domain": domain,
            "completeTime": secs,
            "objectType": "File",
            "taskId": fastrand::u32(..),
        },
        "userIdentity": { "aliUid": firing.account },
    }]})
}

/// 8-4-4-4-12 lower-case hex, the shape of the task and trace ids sources give.
fn uuid_like() -> String {
    let h = random_hex().to_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The triggers of `worker` in this list of FC 3.0 triggers.
    fn triggers(yaml: &str) -> Vec<EventTrigger> {
        let text = format!(
            "edition: 3.0.0\nname: t\nresources:\n  worker:\n    component: fc3\n    props:\n      functionName: worker\n      runtime: custom-container\n      customContainerConfig: {{ image: \"f:latest\" }}\n      triggers:\n{yaml}"
        );
        let project =
            fcemu_spec::parse_project(&text, Path::new("/t/s.yaml"), Path::new("/t"), &|_| None)
                .unwrap_or_else(|e| panic!("{e}"));
        project.functions[0].event_triggers.clone()
    }

    fn fire(t: &EventTrigger, data: Option<&str>) -> Result<Vec<u8>, String> {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_765_000_000);
        let firing = Firing {
            region: "cn-hangzhou",
            account: "1234",
            data,
            at,
        };
        source_event(t, &firing)
    }

    fn json_of(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn an_oss_event_names_the_triggers_bucket_event_and_a_key_its_filter_takes() {
        let t = &triggers(
            "        - triggerName: up\n          triggerType: oss\n          sourceArn: acs:oss:cn-hangzhou:1234:photos\n          triggerConfig: { events: [\"oss:ObjectCreated:*\"], filter: { key: { prefix: in/, suffix: .png } } }\n",
        )[0];
        let event = json_of(fire(t, Some("in/cat.png")).unwrap());
        let e = &event["events"][0];
        assert_eq!(e["eventName"], "ObjectCreated:PutObject");
        assert_eq!(e["eventSource"], "acs:oss");
        assert_eq!(e["oss"]["bucket"]["name"], "photos");
        assert_eq!(e["oss"]["bucket"]["arn"], "acs:oss:cn-hangzhou:1234:photos");
        assert_eq!(e["oss"]["object"]["key"], "in/cat.png");
        assert_eq!(
            e["oss"]["object"]["eTag"],
            "D41D8CD98F00B204E9800998ECF8427E"
        );
        assert_eq!(e["eventTime"], "2025-12-06T05:46:40.000Z");
        // Without a key: one the filter takes; with one it does not take: OSS would not send it.
        let made = json_of(fire(t, None).unwrap());
        assert_eq!(made["events"][0]["oss"]["object"]["key"], "in/example.png");
        let refused = fire(t, Some("out/cat.png")).unwrap_err();
        assert!(refused.contains("starting with `in/`"), "{refused}");
    }

    #[test]
    fn an_fc2_oss_trigger_reads_its_bucket_and_capitalised_filter() {
        let mut t = triggers(
            "        - triggerName: up\n          triggerType: oss\n          triggerConfig: {}\n",
        )[0]
        .clone();
        t.config = serde_json::json!({ "bucketName": "old", "events": ["oss:ObjectRemoved:DeleteObject"],
                                       "filter": { "Key": { "Prefix": "a/", "Suffix": "" } } });
        let e = &json_of(fire(&t, None).unwrap())["events"][0];
        assert_eq!(e["oss"]["bucket"]["name"], "old");
        assert_eq!(e["eventName"], "ObjectRemoved:DeleteObject");
        assert_eq!(e["oss"]["object"]["key"], "a/example");
    }

    #[test]
    fn an_mns_message_is_the_message_itself_or_its_json_envelope() {
        let ts = triggers(
            "        - triggerName: raw\n          triggerType: mns_topic\n          triggerConfig: {}\n        - triggerName: wrapped\n          triggerType: mns_topic\n          sourceArn: acs:mns:cn-hangzhou:1234:/topics/orders\n          triggerConfig: { notifyContentFormat: JSON }\n",
        );
        assert_eq!(fire(&ts[0], Some("hi")).unwrap(), b"hi");
        let e = json_of(fire(&ts[1], Some("hi")).unwrap());
        assert_eq!(e["Message"], "hi");
        assert_eq!(e["TopicName"], "orders");
        assert_eq!(e["MessageMD5"], "49F68A5C8493EC2C0BF489821C21FC3B");
        assert_eq!(e["PublishTime"], 1_765_000_000_000u64);
    }

    #[test]
    fn a_timer_event_carries_its_time_name_and_payload() {
        let t = &triggers(
            "        - triggerName: tick\n          triggerType: timer\n          triggerConfig: { cronExpression: \"@every 1m\", payload: awesome-fc }\n",
        )[0];
        let e = json_of(fire(t, None).unwrap());
        assert_eq!(
            e,
            serde_json::json!({ "triggerTime": "2025-12-06T05:46:40Z", "triggerName": "tick", "payload": "awesome-fc" })
        );
    }

    #[test]
    fn tablestore_records_are_cbor_and_log_and_eventbridge_events_follow_their_config() {
        let ts = triggers(
            "        - triggerName: rows\n          triggerType: tablestore\n          triggerConfig: {}\n        - triggerName: sls\n          triggerType: log\n          sourceArn: acs:log:cn-hangzhou:1234:project/app\n          triggerConfig: { sourceConfig: { logstore: access }, functionParameter: { k: v } }\n        - triggerName: eb\n          triggerType: eventbridge\n          triggerConfig: { eventRuleFilterPattern: '{\"source\":[\"acs.oss\"],\"type\":[\"oss:ObjectCreated:PutObject\"]}' }\n",
        );
        let cbor = fire(&ts[0], Some("row-7")).unwrap();
        let records: Value = ciborium::from_reader(cbor.as_slice()).unwrap();
        assert_eq!(records["Version"], "Sync-v1");
        assert_eq!(records["Records"][0]["PrimaryKey"][0]["Value"], "row-7");
        let log = json_of(fire(&ts[1], None).unwrap());
        assert_eq!(log["source"]["projectName"], "app");
        assert_eq!(log["source"]["logstoreName"], "access");
        assert_eq!(log["parameter"]["k"], "v");
        let eb = json_of(fire(&ts[2], Some(r#"{"a":1}"#)).unwrap());
        assert_eq!(
            (&eb["source"], &eb["type"], &eb["data"]["a"]),
            (
                &"acs.oss".into(),
                &"oss:ObjectCreated:PutObject".into(),
                &1.into()
            )
        );
    }
}
