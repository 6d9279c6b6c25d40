//! Where each field of a YAML file is: an index from field paths (`resources.sd.props.memorySize`,
//! `...triggers[0].triggerConfig`) to line and column, so every error can point into the file.
//!
//! serde's YAML model keeps no positions, so the file is read a second time (only when it has errors) with
//! yaml-rust2's event parser, which marks every event.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Position {
    fn from(m: Marker) -> Self {
        Position {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

pub struct Locations {
    by_path: HashMap<String, Position>,
}

impl Locations {
    /// Indexes a YAML text; a text that does not parse yields what was read before the problem.
    pub fn index(text: &str) -> Self {
        let mut indexer = Indexer::default();
        let _ = Parser::new_from_str(text).load(&mut indexer, false);
        Locations {
            by_path: indexer.by_path,
        }
    }

    /// The position of a field, or of the nearest enclosing field that exists (a missing key is reported
    /// where it should have been written).
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(p) = self.by_path.get(path) {
                return Some(*p);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

enum Frame {
    Map {
        path: String,
        key: Option<(String, Marker)>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Indexer {
    stack: Vec<Frame>,
    by_path: HashMap<String, Position>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Indexer {
    /// The path of the value about to be read, and where its key was (for values in a mapping).
    fn next_value(&self) -> Option<(String, Option<Marker>)> {
        match self.stack.last()? {
            Frame::Map {
                path,
                key: Some((key, mark)),
            } => Some((join(path, key), Some(*mark))),
            Frame::Map { key: None, .. } => None,
            Frame::Seq { path, index } => Some((format!("{path}[{index}]"), None)),
        }
    }

    /// A value was read: the mapping now waits for its next key, the sequence for its next item.
    fn advance(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }

    /// A collection is reported at its key (`gpuConfig:`), a scalar at the value itself.
    fn record(&mut self, path: String, at: Marker) {
        self.by_path.entry(path).or_insert_with(|| at.into());
    }
}

impl MarkedEventReceiver for Indexer {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = match self.next_value() {
                    Some((path, key_mark)) => {
                        self.record(path.clone(), key_mark.unwrap_or(mark));
                        path
                    }
                    None if self.stack.is_empty() => String::new(),
                    // A collection used as a mapping key: not something s.yaml has.
                    None => "?".into(),
                };
                self.stack
                    .push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map { path, key: None }
                    } else {
                        Frame::Seq { path, index: 0 }
                    });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.advance();
            }
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = self.stack.last_mut()
                {
                    *key = Some((value, mark));
                    return;
                }
                if let Some((path, _)) = self.next_value() {
                    self.record(path, mark);
                }
                self.advance();
            }
            Event::Alias(_) => {
                if let Some((path, _)) = self.next_value() {
                    self.record(path, mark);
                }
                self.advance();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "edition: 3.0.0
resources:
  sd:
    props:
      memorySize: 100
      gpuConfig:
        gpuType: fc.gpu.ada.1
      triggers:
        - triggerName: http
          triggerConfig: { methods: [GET, PUTT] }
";

    #[test]
    fn scalars_are_found_at_their_value_and_collections_at_their_key() {
        let l = Locations::index(TEXT);
        assert_eq!(
            l.find("edition"),
            Some(Position {
                line: 1,
                column: 10
            })
        );
        assert_eq!(
            l.find("resources.sd.props.memorySize"),
            Some(Position {
                line: 5,
                column: 19
            })
        );
        assert_eq!(
            l.find("resources.sd.props.gpuConfig"),
            Some(Position { line: 6, column: 7 })
        );
        assert_eq!(
            l.find("resources.sd.props.triggers[0].triggerName"),
            Some(Position {
                line: 9,
                column: 24
            })
        );
        assert_eq!(
            l.find("resources.sd.props.triggers[0].triggerConfig.methods[1]"),
            Some(Position {
                line: 10,
                column: 43
            })
        );
    }

    #[test]
    fn a_missing_field_is_placed_at_its_nearest_parent() {
        let l = Locations::index(TEXT);
        assert_eq!(
            l.find("resources.sd.props.gpuConfig.gpuMemorySize"),
            l.find("resources.sd.props.gpuConfig")
        );
        assert_eq!(l.find("nothing.at.all"), None);
    }
}
