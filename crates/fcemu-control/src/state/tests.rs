//! Every transition the machine allows, as a table; every other (state, input) pair must be refused.

use super::*;

/// `FROM  INPUT  IN_FLIGHT  TO  EVENT`: IN_FLIGHT is 0, 1 or * (either); EVENT is `-` for none.
const ALLOWED: &str = "
Absent                    Create                       *  Creating(InstanceCreate)  instance.creating
Creating(InstanceCreate)  ContainerCreated             *  Creating(RuntimeInit)     instance.created
Creating(InstanceCreate)  BeginDestroy(idle)           *  Stopping(idle)            -
Creating(RuntimeInit)     RuntimeReady                 *  Initializing(first)       instance.runtime_ready
Creating(RuntimeInit)     BeginDestroy(idle)           *  Stopping(idle)            -
Initializing(first)       InitializerSucceeded(cold)   *  Busy                      instance.ready
Initializing(first)       InitializerRejected          *  Busy(uninitialized)       -
Initializing(first)       Lost                         *  Stopping(?)               -
Initializing(first)       BeginDestroy(idle)           *  Stopping(idle)            -
Initializing(retry)       InitializerSucceeded(retry)  *  Busy                      -
Initializing(retry)       InitializerRejected          *  Busy(uninitialized)       -
Initializing(retry)       FreezeDue                    *  Initializing(retry)       -
Initializing(retry)       FreezeDue(stale)             *  Initializing(retry)       -
Initializing(retry)       Lost                         *  Stopping(?)               -
Initializing(retry)       BeginDestroy(idle)           *  Stopping(idle)            -
Ready                     Place                        *  Busy                      -
Ready                     FreezeDue                    *  Freezing                  -
Ready                     FreezeDue(stale)             *  Ready                     -
Ready                     BeginDestroy(idle)           *  Stopping(idle)            -
Ready(uninitialized)      Place                        *  Initializing(retry)       -
Ready(uninitialized)      FreezeDue                    *  Freezing(uninitialized)   -
Ready(uninitialized)      FreezeDue(stale)             *  Ready(uninitialized)      -
Ready(uninitialized)      BeginDestroy(idle)           *  Stopping(idle)            -
Busy                      Place                        *  Busy                      -
Busy                      Release                      0  Ready                     -
Busy                      Release                      1  Busy                      -
Busy                      FreezeDue                    *  Busy                      -
Busy                      FreezeDue(stale)             *  Busy                      -
Busy                      Lost                         *  Stopping(?)               -
Busy                      BeginDestroy(idle)           *  Stopping(idle)            -
Busy(uninitialized)       Release                      0  Ready(uninitialized)      -
Busy(uninitialized)       Release                      1  Busy(uninitialized)       -
Busy(uninitialized)       FreezeDue                    *  Busy(uninitialized)       -
Busy(uninitialized)       FreezeDue(stale)             *  Busy(uninitialized)       -
Busy(uninitialized)       Lost                         *  Stopping(?)               -
Busy(uninitialized)       BeginDestroy(idle)           *  Stopping(idle)            -
Freezing                  Place                        *  Freezing                  -
Freezing                  Release                      *  Freezing                  -
Freezing                  FreezeDue                    *  Freezing                  -
Freezing                  FreezeDue(stale)             *  Freezing                  -
Freezing                  FreezeAbandoned              1  Busy                      -
Freezing                  Paused                       0  Frozen                    instance.frozen
Freezing                  Paused                       1  Thawing                   instance.frozen
Freezing                  PauseFailed                  0  Ready                     -
Freezing                  PauseFailed                  1  Busy                      -
Freezing                  BeginDestroy(idle)           *  Stopping(idle)            -
Freezing(uninitialized)   Place                        *  Freezing(uninitialized)   -
Freezing(uninitialized)   Release                      *  Freezing(uninitialized)   -
Freezing(uninitialized)   FreezeDue                    *  Freezing(uninitialized)   -
Freezing(uninitialized)   FreezeDue(stale)             *  Freezing(uninitialized)   -
Freezing(uninitialized)   FreezeAbandoned              1  Initializing(retry)       -
Freezing(uninitialized)   Paused                       0  Frozen(uninitialized)     instance.frozen
Freezing(uninitialized)   Paused                       1  Thawing(uninitialized)    instance.frozen
Freezing(uninitialized)   PauseFailed                  0  Ready(uninitialized)      -
Freezing(uninitialized)   PauseFailed                  1  Initializing(retry)       -
Freezing(uninitialized)   BeginDestroy(idle)           *  Stopping(idle)            -
Frozen                    Place                        *  Thawing                   -
Frozen                    FreezeDue                    *  Frozen                    -
Frozen                    FreezeDue(stale)             *  Frozen                    -
Frozen                    BeginDestroy(idle)           *  Stopping(idle,paused)    -
Frozen(uninitialized)     Place                        *  Thawing(uninitialized)    -
Frozen(uninitialized)     FreezeDue                    *  Frozen(uninitialized)     -
Frozen(uninitialized)     FreezeDue(stale)             *  Frozen(uninitialized)     -
Frozen(uninitialized)     BeginDestroy(idle)           *  Stopping(idle,paused)    -
Thawing                   Place                        *  Thawing                   -
Thawing                   Release                      *  Thawing                   -
Thawing                   FreezeDue                    *  Thawing                   -
Thawing                   FreezeDue(stale)             *  Thawing                   -
Thawing                   Thawed                       0  Ready                     instance.thawed
Thawing                   Thawed                       1  Busy                      instance.thawed
Thawing                   Lost                         *  Stopping(?,paused)       -
Thawing                   BeginDestroy(idle)           *  Stopping(idle,paused)    -
Thawing(uninitialized)    Place                        *  Thawing(uninitialized)    -
Thawing(uninitialized)    Release                      *  Thawing(uninitialized)    -
Thawing(uninitialized)    FreezeDue                    *  Thawing(uninitialized)    -
Thawing(uninitialized)    FreezeDue(stale)             *  Thawing(uninitialized)    -
Thawing(uninitialized)    Thawed                       0  Ready(uninitialized)      instance.thawed
Thawing(uninitialized)    Thawed                       1  Initializing(retry)       instance.thawed
Thawing(uninitialized)    Lost                         *  Stopping(?,paused)       -
Thawing(uninitialized)    BeginDestroy(idle)           *  Stopping(idle,paused)    -
";

/// The rows every Stopping state shares: the destroy wins over whatever was under way.
const STOPPING: &str = "
S  ContainerCreated             *  S  -
S  RuntimeReady                 *  S  -
S  InitializerSucceeded(cold)   *  S  -
S  InitializerSucceeded(retry)  *  S  -
S  InitializerRejected          *  S  -
S  Release                      *  S  -
S  FreezeDue                    *  S  -
S  FreezeDue(stale)             *  S  -
S  PauseFailed                  *  S  -
S  Lost                         *  S  -
";

fn samples() -> Vec<(&'static str, State)> {
    let idle = Idle {
        period: 7,
        since: Instant::now(),
    };
    let since = Instant::now();
    let mut all = vec![
        ("Absent", State::Absent),
        (
            "Creating(InstanceCreate)",
            State::Creating(CreatePhase::InstanceCreate),
        ),
        (
            "Creating(RuntimeInit)",
            State::Creating(CreatePhase::RuntimeInit),
        ),
        ("Initializing(first)", State::Initializing { first: true }),
        ("Initializing(retry)", State::Initializing { first: false }),
        (
            "Stopping(?)",
            State::Stopping {
                reason: None,
                frozen_since: None,
            },
        ),
        (
            "Stopping(?,paused)",
            State::Stopping {
                reason: None,
                frozen_since: Some(since),
            },
        ),
        (
            "Stopping(idle)",
            State::Stopping {
                reason: Some(DestroyReason::Idle),
                frozen_since: None,
            },
        ),
        (
            "Stopping(idle,paused)",
            State::Stopping {
                reason: Some(DestroyReason::Idle),
                frozen_since: Some(since),
            },
        ),
        (
            "Destroyed(idle)",
            State::Destroyed {
                reason: DestroyReason::Idle,
            },
        ),
    ];
    for (initialized, suffix) in [(true, ""), (false, "(uninitialized)")] {
        let name = |base: &str| -> &'static str { format!("{base}{suffix}").leak() };
        all.extend([
            (name("Ready"), State::Ready { idle, initialized }),
            (name("Busy"), State::Busy { initialized }),
            (name("Freezing"), State::Freezing { idle, initialized }),
            (
                name("Frozen"),
                State::Frozen {
                    idle,
                    since,
                    initialized,
                },
            ),
            (name("Thawing"), State::Thawing { since, initialized }),
        ]);
    }
    all
}

fn inputs() -> Vec<(&'static str, Input)> {
    vec![
        ("Create", Input::Create { provisioned: false }),
        (
            "ContainerCreated",
            Input::ContainerCreated {
                took: Duration::from_millis(5),
            },
        ),
        (
            "RuntimeReady",
            Input::RuntimeReady {
                cold_start: InitDuration::default(),
            },
        ),
        (
            "InitializerSucceeded(cold)",
            Input::InitializerSucceeded {
                cold_start: Some(InitDuration::default()),
            },
        ),
        (
            "InitializerSucceeded(retry)",
            Input::InitializerSucceeded { cold_start: None },
        ),
        ("InitializerRejected", Input::InitializerRejected),
        ("Place", Input::Place),
        ("Release", Input::Release),
        ("FreezeDue", Input::FreezeDue { period: 7 }),
        ("FreezeDue(stale)", Input::FreezeDue { period: 8 }),
        ("FreezeAbandoned", Input::FreezeAbandoned),
        ("Paused", Input::Paused),
        ("PauseFailed", Input::PauseFailed),
        ("Thawed", Input::Thawed),
        ("Lost", Input::Lost),
        (
            "BeginDestroy(idle)",
            Input::BeginDestroy(DestroyReason::Idle),
        ),
        ("Destroyed", Input::Destroyed { error: None }),
    ]
}

/// The name of a state in the table's terms (the idle period and times left out).
fn name_of(state: &State) -> String {
    let uninit = |initialized: bool| if initialized { "" } else { "(uninitialized)" };
    match state {
        State::Absent => "Absent".into(),
        State::Creating(phase) => format!("Creating({phase:?})"),
        State::Initializing { first: true } => "Initializing(first)".into(),
        State::Initializing { first: false } => "Initializing(retry)".into(),
        State::Ready { initialized, .. } => format!("Ready{}", uninit(*initialized)),
        State::Busy { initialized } => format!("Busy{}", uninit(*initialized)),
        State::Freezing { initialized, .. } => format!("Freezing{}", uninit(*initialized)),
        State::Frozen { initialized, .. } => format!("Frozen{}", uninit(*initialized)),
        State::Thawing { initialized, .. } => format!("Thawing{}", uninit(*initialized)),
        State::Stopping {
            reason,
            frozen_since,
        } => {
            let reason = reason.map_or("?", |r| r.as_str());
            if frozen_since.is_some() {
                format!("Stopping({reason},paused)")
            } else {
                format!("Stopping({reason})")
            }
        }
        State::Destroyed { reason } => format!("Destroyed({})", reason.as_str()),
    }
}

struct Row {
    from: String,
    input: String,
    in_flight: Option<u32>,
    to: String,
    event: Option<String>,
}

fn rows() -> Vec<Row> {
    let parse = |text: &str, from: Option<&str>| -> Vec<Row> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let state = |s: &str| from.filter(|_| s == "S").unwrap_or(s).to_string();
                Row {
                    from: state(f[0]),
                    input: f[1].into(),
                    in_flight: f[2].parse().ok(),
                    to: state(f[3]),
                    event: (f[4] != "-").then(|| f[4].to_string()),
                }
            })
            .collect()
    };
    let mut rows = parse(ALLOWED, None);
    for stopping in [
        "Stopping(?)",
        "Stopping(?,paused)",
        "Stopping(idle)",
        "Stopping(idle,paused)",
    ] {
        rows.extend(parse(STOPPING, Some(stopping)));
    }
    let extra = "
Stopping(?)             BeginDestroy(idle)  *  Stopping(idle)          -
Stopping(?,paused)     BeginDestroy(idle)  *  Stopping(idle,paused)  -
Stopping(idle)          BeginDestroy(idle)  *  Stopping(idle)          -
Stopping(idle,paused)  BeginDestroy(idle)  *  Stopping(idle,paused)  -
Stopping(?)             Paused              *  Stopping(?,paused)     instance.frozen
Stopping(idle)          Paused              *  Stopping(idle,paused)  instance.frozen
Stopping(?,paused)     Thawed              *  Stopping(?)             instance.thawed
Stopping(idle,paused)  Thawed              *  Stopping(idle)          instance.thawed
Stopping(idle)          Destroyed           *  Destroyed(idle)         instance.destroyed
Stopping(idle,paused)  Destroyed           *  Destroyed(idle)         instance.destroyed
";
    rows.extend(parse(extra, None));
    rows
}

#[test]
fn every_allowed_transition_goes_where_the_table_says_and_every_other_is_refused() {
    let function: Arc<str> = "f".into();
    let instance: Arc<str> = "c-1".into();
    let names = Names {
        function: &function,
        instance: &instance,
    };
    let table = rows();
    let mut checked = 0;
    for (from_name, state) in samples() {
        for (input_name, input) in inputs() {
            for in_flight in [0, 1] {
                let row = table.iter().find(|r| {
                    r.from == from_name
                        && r.input == input_name
                        && r.in_flight.is_none_or(|n| n == in_flight)
                });
                let result = state.step(input.clone(), in_flight, &names);
                match (row, result) {
                    (Some(row), Ok(step)) => {
                        assert_eq!(
                            name_of(&step.next),
                            row.to,
                            "{from_name} + {input_name} with {in_flight} in flight"
                        );
                        assert_eq!(
                            step.event.as_ref().map(|e| e.event.as_str().to_string()),
                            row.event,
                            "the event of {from_name} + {input_name}"
                        );
                        checked += 1;
                    }
                    (Some(_), Err(e)) => panic!("refused, but the table allows it: {e}"),
                    (None, Ok(step)) => panic!(
                        "{from_name} + {input_name} with {in_flight} in flight is not in the table, but goes to {}",
                        name_of(&step.next)
                    ),
                    (None, Err(e)) => {
                        assert_eq!(e.state, state);
                        assert_eq!(*e.input, input);
                    }
                }
            }
        }
    }
    assert!(checked > 100, "{checked} allowed pairs checked");
    // The table names no state or input the samples lack (a typo would make a row dead).
    let states: Vec<&str> = samples().iter().map(|(n, _)| *n).collect();
    let input_names: Vec<&str> = inputs().iter().map(|(n, _)| *n).collect();
    for row in &table {
        assert!(states.contains(&row.from.as_str()), "{}", row.from);
        assert!(input_names.contains(&row.input.as_str()), "{}", row.input);
    }
}

#[test]
fn every_instance_event_is_emitted_by_some_transition() {
    let emitted: Vec<String> = rows().into_iter().filter_map(|r| r.event).collect();
    for kind in EventKind::ALL {
        if kind.is_instance_transition() {
            assert!(
                emitted.iter().any(|e| e == kind.as_str()),
                "{} is emitted by no transition",
                kind.as_str()
            );
        }
    }
}

#[test]
fn a_thaw_reports_how_long_the_instance_was_frozen() {
    let function: Arc<str> = "f".into();
    let instance: Arc<str> = "c-1".into();
    let names = Names {
        function: &function,
        instance: &instance,
    };
    let since = Instant::now() - Duration::from_millis(250);
    let thawing = State::Thawing {
        since,
        initialized: true,
    };
    let step = thawing.step(Input::Thawed, 1, &names).unwrap();
    let frozen = step.frozen_for.unwrap();
    assert!(frozen >= Duration::from_millis(250), "{frozen:?}");
    let event = step.event.unwrap();
    assert!(event.extra["frozenMs"].as_f64().unwrap() >= 250.0);
}

#[test]
fn room_is_the_concurrency_left_and_one_for_an_uninitialized_instance() {
    let idle = Idle {
        period: 1,
        since: Instant::now(),
    };
    let ready = State::Ready {
        idle,
        initialized: true,
    };
    assert_eq!(ready.room(0, 4), 4);
    assert_eq!(State::Busy { initialized: true }.room(3, 4), 1);
    let uninitialized = State::Ready {
        idle,
        initialized: false,
    };
    assert_eq!(uninitialized.room(0, 4), 1);
    assert_eq!(State::Initializing { first: false }.room(1, 4), 0);
    assert_eq!(
        State::Stopping {
            reason: None,
            frozen_since: None
        }
        .room(0, 4),
        0
    );
}
