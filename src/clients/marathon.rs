//! Client of Marathon's REST API: `/v2/apps?embed=apps.tasks` and `/v2/pods/::status` read
//! straight from the wire into [`crate::domain::marathon`]'s types, and the event stream
//! `/v2/events` (server-sent events) into its typed [`Event`]s.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::domain::marathon::{AppList, Event, PodStatusList, Snapshot};
use crate::http::client::{self as http_client, JsonPeer};

pub struct Marathon(JsonPeer);

impl Marathon {
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        Ok(Self(JsonPeer::new("Marathon", url, timeout)?))
    }

    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// Apps with their tasks, and pods' status. An answer of another shape (no `apps` list,
    /// not a list of pod statuses, a field of the wrong type) is an error naming the URL, so a
    /// proxy page or a starting Marathon never looks like "nothing runs".
    pub fn snapshot(&self) -> Result<Snapshot> {
        let apps: AppList = self.0.get_typed("/v2/apps?embed=apps.tasks")?;
        let pods: PodStatusList = self.0.get_typed("/v2/pods/::status")?;
        Ok(Snapshot {
            apps: apps.apps,
            pods,
        })
    }

    /// Attach to the event stream (`GET /v2/events`, `Accept: text/event-stream`), asking for
    /// these event types only (all when empty). `idle`: how long a read may wait before the
    /// stream counts as dead (Marathon sends a heartbeat every 10 s).
    pub fn events(&self, types: &[&str], idle: Duration) -> Result<EventStream> {
        let query: Vec<String> = types
            .iter()
            .map(|t| format!("event_type={}", crate::http::server::percent_encode(t)))
            .collect();
        let url = if query.is_empty() {
            format!("{}/v2/events", self.url())
        } else {
            format!("{}/v2/events?{}", self.url(), query.join("&"))
        };
        let agent =
            http_client::stream_agent(Duration::from_secs(5), Duration::from_secs(30), idle)?;
        let mut resp = agent
            .get(&url)
            .header("Accept", "text/event-stream")
            .call()
            .map_err(|e| anyhow::anyhow!("Marathon {url}: {}", http_client::describe(&e)))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = http_client::body_text(&mut resp, 4096);
            bail!("Marathon {url} answered {status}: {}", body.trim());
        }
        Ok(EventStream {
            url,
            reader: BufReader::with_capacity(64 * 1024, Box::new(resp.into_body().into_reader())),
            parser: SseParser::default(),
        })
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (Marathon: the event type).
    pub name: String,
    /// The `data:` lines, joined by `\n` (Marathon: the event's JSON).
    pub data: String,
}

/// The server-sent events format (WHATWG HTML "Server-sent events" §9.2.6), line by line:
/// `field: value` lines gather an event, an empty line dispatches it (an empty line with
/// nothing gathered, as Jetty's heartbeat, dispatches nothing), `:` starts a comment.
#[derive(Debug, Default)]
pub struct SseParser {
    name: String,
    data: Vec<String>,
}

impl SseParser {
    /// Feed one line (without its end); returns the event it completes.
    pub fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.name.clear();
                return None;
            }
            let ev = SseEvent {
                name: std::mem::take(&mut self.name),
                data: std::mem::take(&mut self.data).join("\n"),
            };
            return Some(ev);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = value.to_string(),
            "data" => self.data.push(value.to_string()),
            _ => {}
        }
        None
    }
}

/// The longest line an event stream may send (an `api_post_event` carries a whole app).
const MAX_SSE_LINE: u64 = 16 << 20;

/// An attached event stream.
pub struct EventStream {
    url: String,
    reader: BufReader<Box<dyn Read + Send>>,
    parser: SseParser,
}

impl EventStream {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next event, typed; `None` when Marathon closed the stream. Blocks until one comes,
    /// the stream fails, or a read waits longer than the idle limit. An event whose data cannot
    /// be read is logged and given by its name only.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        let Some(ev) = self.next_sse()? else {
            return Ok(None);
        };
        Ok(Some(Event::parse(&ev.name, &ev.data).unwrap_or_else(|e| {
            log::warn!(
                "Marathon event stream {}: a {} whose data cannot be read: {e}",
                self.url,
                ev.name
            );
            Event::Other(ev.name.clone())
        })))
    }

    /// The next server-sent event as sent; `None` when Marathon closed the stream.
    pub fn next_sse(&mut self) -> Result<Option<SseEvent>> {
        loop {
            let mut buf = Vec::new();
            let n = (&mut self.reader)
                .take(MAX_SSE_LINE + 1)
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("Marathon event stream {}", self.url))?;
            if n == 0 {
                return Ok(None);
            }
            if n as u64 > MAX_SSE_LINE {
                bail!(
                    "Marathon event stream {}: a line longer than {MAX_SSE_LINE} bytes",
                    self.url
                );
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            let line = String::from_utf8_lossy(&buf);
            if let Some(ev) = self.parser.line(&line) {
                return Ok(Some(ev));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_sent_events_as_jetty_writes_them() {
        let mut p = SseParser::default();
        let mut got = Vec::new();
        let text = "event: event_stream_attached\r\ndata: {\"a\":1}\r\n\r\n\r\n\r\n: comment\r\n\
                    event: status_update_event\ndata: line1\ndata:line2\n\ndata: nameless\n\n";
        for line in text.split('\n') {
            if let Some(e) = p.line(line.trim_end_matches('\r')) {
                got.push(e);
            }
        }
        assert_eq!(
            got,
            [
                SseEvent {
                    name: "event_stream_attached".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    name: "status_update_event".into(),
                    data: "line1\nline2".into()
                },
                SseEvent {
                    name: "".into(),
                    data: "nameless".into()
                },
            ]
        );
    }

    /// Marathon's own example stream (`docs/docs/rest-api/public/api/v2/examples/events.txt`,
    /// see `tests/fixtures/marathon/README.md`) and the health events of `event-bus.md`, read
    /// the way the stream is read.
    #[test]
    fn marathons_example_events_are_typed() {
        let text = format!(
            "{}\nevent: health_status_changed_event\ndata: {}\n\nevent: instance_health_changed_event\ndata: {}\n\n",
            include_str!("../../tests/fixtures/marathon/events.txt"),
            r#"{"eventType":"health_status_changed_event","timestamp":"2014-03-01T23:29:30.158Z","appId":"/my-app","instanceId":"my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c","version":"2014-04-04T06:26:23.051Z","alive":true}"#,
            r#"{"instanceId":"my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c","runSpecVersion":"2014-03-01T23:29:30.158Z","healthy":null,"runSpecId":"/app-id","timestamp":"2014-03-01T23:29:30.158Z","eventType":"instance_health_changed_event"}"#
        );
        let mut p = SseParser::default();
        let events: Vec<Event> = text
            .lines()
            .filter_map(|l| p.line(l))
            .map(|e| Event::parse(&e.name, &e.data).expect("an event Marathon sends"))
            .collect();
        let names: Vec<&str> = events.iter().map(Event::name).collect();
        assert_eq!(
            names,
            [
                "event_stream_attached",
                "status_update_event",
                "status_update_event",
                "health_status_changed_event",
                "instance_health_changed_event"
            ]
        );
        let Event::StatusUpdate(failed) = &events[1] else {
            panic!("{:?}", events[1]);
        };
        assert_eq!(
            (failed.app_id.as_str(), failed.task_status.as_str()),
            ("/foo", "TASK_FAILED")
        );
        assert_eq!(
            events[3],
            Event::HealthStatusChanged(crate::domain::marathon::HealthStatusChanged {
                app_id: "/my-app".into(),
                instance_id: "my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c".into(),
                alive: true,
            })
        );
        assert!(events[3].is_health() && events[4].is_health() && !events[1].is_health());
        let Event::InstanceHealthChanged(h) = &events[4] else {
            panic!("{:?}", events[4]);
        };
        assert_eq!(h.healthy, None, "null while not every check reported");
    }
}
