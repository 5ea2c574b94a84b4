//! Properties of schedules and availability over HTTP: whatever random
//! sequence of commands a small world receives (3 people able to fill every
//! crew role, 2 trucks, a 3-day window of hour-aligned slots from tomorrow),
//! the accepted schedules never overlap per person or per truck and never
//! cover an unavailability.
//!
//! Each case runs the sequence in a fresh tenant (of one app started for the
//! test: bookings and their constraints are per tenant) and keeps a model of
//! what was accepted (every schedule's crew and answers, trucks, period and
//! status; every unavailability). Every answer must be the one the model
//! predicts: a command is refused (409 naming every conflicting booking, and
//! nothing else) when, and only when, the model sees a conflict, so the database neither lets an
//! overlap through nor refuses what it should accept. After
//! every command the bookings in the database equal the model's, the model
//! has no overlap, and SQL finds none either.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, DurationRound, FixedOffset, Utc};
use crm::app::Parts;
use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use uuid::Uuid;

const PEOPLE: usize = 3;
const TRUCKS: usize = 2;
const ROLES: [&str; 3] = ["DRIVER", "FOREMAN", "MOVER"];
/// Schedules and unavailabilities start in the first 72 hours from the base.
const WINDOW_HOURS: i64 = 72;
/// The offsets (seconds east of UTC) instants are written in.
const OFFSETS: [i32; 3] = [0, -5 * 3600, 5 * 3600 + 1800];

/// A crew: for each person, the role they fill (index into [`ROLES`]), if
/// they are on it.
type Crew = [Option<usize>; PEOPLE];
/// Trucks: for each, whether it is on the schedule, as a vehicle (`true`)
/// or as equipment (`false`).
type Trucks = [Option<bool>; TRUCKS];

#[derive(Clone, Debug)]
enum Op {
    Create {
        crew: Crew,
        trucks: Trucks,
        start: i64,
        hours: i64,
        offset: usize,
    },
    Reschedule {
        pick: Index,
        start: i64,
        hours: i64,
        offset: usize,
    },
    /// PATCH a new crew and/or new trucks.
    Update {
        pick: Index,
        crew: Option<Crew>,
        trucks: Option<Trucks>,
    },
    Cancel {
        pick: Index,
    },
    Start {
        pick: Index,
    },
    Complete {
        pick: Index,
    },
    /// `person` accepts or declines (they may not be on the crew).
    Respond {
        pick: Index,
        person: usize,
        accept: bool,
    },
    /// A single window; `is_available = true` (extra availability) never
    /// blocks.
    Unavailable {
        person: usize,
        start: i64,
        hours: i64,
        is_available: bool,
        offset: usize,
    },
    Remove {
        pick: Index,
    },
}

impl Op {
    fn kind(&self) -> &'static str {
        match self {
            Op::Create { .. } => "create",
            Op::Reschedule { .. } => "reschedule",
            Op::Update { .. } => "update",
            Op::Cancel { .. } => "cancel",
            Op::Start { .. } => "start",
            Op::Complete { .. } => "complete",
            Op::Respond { accept: true, .. } => "accept",
            Op::Respond { accept: false, .. } => "decline",
            Op::Unavailable { .. } => "unavailable",
            Op::Remove { .. } => "remove",
        }
    }
}

fn crew() -> impl Strategy<Value = Crew> {
    prop::array::uniform3(prop::option::weighted(0.5, 0..ROLES.len()))
}

fn trucks() -> impl Strategy<Value = Trucks> {
    prop::array::uniform2(prop::option::weighted(0.4, any::<bool>()))
}

fn op() -> impl Strategy<Value = Op> {
    let start = 0..WINDOW_HOURS;
    let offset = 0..OFFSETS.len();
    prop_oneof![
        6 => (crew(), trucks(), start.clone(), 1..=12i64, offset.clone()).prop_map(
            |(crew, trucks, start, hours, offset)| Op::Create { crew, trucks, start, hours, offset }
        ),
        3 => (any::<Index>(), start.clone(), 1..=12i64, offset.clone()).prop_map(
            |(pick, start, hours, offset)| Op::Reschedule { pick, start, hours, offset }
        ),
        2 => (any::<Index>(), prop::option::of(crew()), prop::option::of(trucks())).prop_map(
            |(pick, crew, trucks)| Op::Update { pick, crew, trucks }
        ),
        1 => any::<Index>().prop_map(|pick| Op::Cancel { pick }),
        1 => any::<Index>().prop_map(|pick| Op::Start { pick }),
        1 => any::<Index>().prop_map(|pick| Op::Complete { pick }),
        4 => (any::<Index>(), 0..PEOPLE, any::<bool>()).prop_map(
            |(pick, person, accept)| Op::Respond { pick, person, accept }
        ),
        3 => (0..PEOPLE, start, 1..=24i64, prop::bool::weighted(0.15), offset).prop_map(
            |(person, start, hours, is_available, offset)| Op::Unavailable {
                person, start, hours, is_available, offset
            }
        ),
        1 => any::<Index>().prop_map(|pick| Op::Remove { pick }),
    ]
}

type Period = (DateTime<Utc>, DateTime<Utc>);

/// Half-open periods `[from, to)` overlap.
fn overlaps(a: Period, b: Period) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Invited,
    Accepted,
    Declined,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Scheduled,
    InProgress,
    Completed,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Member {
    person: usize,
    role: usize,
    answer: Answer,
}

#[derive(Clone, Debug)]
struct ModelSchedule {
    id: Uuid,
    crew: Vec<Member>,
    /// (truck, listed as a vehicle), by truck.
    trucks: Vec<(usize, bool)>,
    period: Period,
    status: Status,
}

impl ModelSchedule {
    fn active(&self) -> bool {
        matches!(self.status, Status::Scheduled | Status::InProgress)
    }

    /// Whether it keeps `person` busy: active (a completed schedule, all in
    /// the future, is released whole), and they have not declined.
    fn holds(&self, person: usize) -> bool {
        self.active()
            && self
                .crew
                .iter()
                .any(|m| m.person == person && m.answer != Answer::Declined)
    }

    fn books(&self, truck: usize) -> bool {
        self.active() && self.trucks.iter().any(|(t, _)| *t == truck)
    }

    fn member(&self, person: usize) -> Option<&Member> {
        self.crew.iter().find(|m| m.person == person)
    }
}

#[derive(Clone, Debug)]
struct Absence {
    id: Uuid,
    person: usize,
    period: Period,
    /// An unavailability (`is_available = false`).
    unavailable: bool,
    removed: bool,
}

impl Absence {
    fn blocks(&self) -> bool {
        self.unavailable && !self.removed
    }
}

/// What the test believes was accepted.
#[derive(Debug)]
struct Model {
    people: Vec<Uuid>,
    trucks: Vec<Uuid>,
    schedules: Vec<ModelSchedule>,
    absences: Vec<Absence>,
}

impl Model {
    /// What keeps `person` from `period`, other than schedule `except`: the
    /// ids of their schedules and unavailabilities then.
    fn person_busy(&self, person: usize, period: Period, except: Option<usize>) -> Vec<Uuid> {
        let schedules = self
            .schedules
            .iter()
            .enumerate()
            .filter(|(i, s)| Some(*i) != except && s.holds(person) && overlaps(s.period, period))
            .map(|(_, s)| s.id);
        let absences = self
            .absences
            .iter()
            .filter(|a| a.person == person && a.blocks() && overlaps(a.period, period))
            .map(|a| a.id);
        schedules.chain(absences).collect()
    }

    fn truck_busy(&self, truck: usize, period: Period, except: Option<usize>) -> Vec<Uuid> {
        self.schedules
            .iter()
            .enumerate()
            .filter(|(i, s)| Some(*i) != except && s.books(truck) && overlaps(s.period, period))
            .map(|(_, s)| s.id)
            .collect()
    }

    /// The conflicts of booking `people` and `trucks` over `period` (besides
    /// schedule `except`): each busy person or truck and what holds it, the
    /// ids a 409 names.
    fn conflicts(
        &self,
        people: impl IntoIterator<Item = usize>,
        trucks: impl IntoIterator<Item = usize>,
        period: Period,
        except: Option<usize>,
    ) -> BTreeSet<Uuid> {
        let mut names = BTreeSet::new();
        for person in people {
            let busy = self.person_busy(person, period, except);
            if !busy.is_empty() {
                names.insert(self.people[person]);
                names.extend(busy);
            }
        }
        for truck in trucks {
            let busy = self.truck_busy(truck, period, except);
            if !busy.is_empty() {
                names.insert(self.trucks[truck]);
                names.extend(busy);
            }
        }
        names
    }

    /// The model itself never double-books: per person, no two schedules
    /// holding them overlap and none overlaps an unavailability; per truck,
    /// no two schedules overlap.
    fn check(&self) -> Result<(), String> {
        for person in 0..PEOPLE {
            let held: Vec<&ModelSchedule> =
                self.schedules.iter().filter(|s| s.holds(person)).collect();
            for (i, a) in held.iter().enumerate() {
                for b in &held[i + 1..] {
                    if overlaps(a.period, b.period) {
                        return Err(format!(
                            "model: person {person} on overlapping schedules {a:?} and {b:?}"
                        ));
                    }
                }
                for absence in self.absences.iter().filter(|x| x.person == person) {
                    if absence.blocks() && overlaps(a.period, absence.period) {
                        return Err(format!(
                            "model: person {person} scheduled {a:?} over {absence:?}"
                        ));
                    }
                }
            }
        }
        for truck in 0..TRUCKS {
            let booked: Vec<&ModelSchedule> =
                self.schedules.iter().filter(|s| s.books(truck)).collect();
            for (i, a) in booked.iter().enumerate() {
                for b in &booked[i + 1..] {
                    if overlaps(a.period, b.period) {
                        return Err(format!(
                            "model: truck {truck} on overlapping schedules {a:?} and {b:?}"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The bookings the database should hold: (kind, source, person or
    /// truck, from, to).
    fn bookings(&self) -> (BTreeSet<Booking>, BTreeSet<Booking>) {
        let mut crew = BTreeSet::new();
        let mut equipment = BTreeSet::new();
        for s in self.schedules.iter().filter(|s| s.active()) {
            for m in s.crew.iter().filter(|m| m.answer != Answer::Declined) {
                crew.insert((
                    "schedule".to_owned(),
                    s.id.to_string(),
                    self.people[m.person].to_string(),
                    s.period.0,
                    s.period.1,
                ));
            }
            for (t, _) in &s.trucks {
                equipment.insert((
                    "schedule".to_owned(),
                    s.id.to_string(),
                    self.trucks[*t].to_string(),
                    s.period.0,
                    s.period.1,
                ));
            }
        }
        for a in self.absences.iter().filter(|a| a.blocks()) {
            crew.insert((
                "unavailable".to_owned(),
                a.id.to_string(),
                self.people[a.person].to_string(),
                a.period.0,
                a.period.1,
            ));
        }
        (crew, equipment)
    }
}

type Booking = (String, String, String, DateTime<Utc>, DateTime<Utc>);

/// The answer the model predicts.
#[derive(Debug)]
enum Expected {
    Status(u16),
    /// 409 of `rule` whose detail names every id of `names`, and nothing
    /// else.
    Conflict {
        rule: &'static str,
        names: BTreeSet<Uuid>,
    },
    /// 409: the schedule's status does not allow the command.
    Illegal,
    NotFound,
}

/// A 409 of `rule` naming `names` when there is a conflict, `ok` otherwise.
fn refused_if(rule: &'static str, names: BTreeSet<Uuid>, ok: u16) -> Expected {
    if names.is_empty() {
        Expected::Status(ok)
    } else {
        Expected::Conflict { rule, names }
    }
}

/// Every UUID in a text.
fn uuids(text: &str) -> BTreeSet<Uuid> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|w| w.len() == 36)
        .filter_map(|w| Uuid::parse_str(w).ok())
        .collect()
}

fn check_answer(r: &TestResponse, expected: &Expected, model: &Model) -> Result<(), String> {
    if r.status >= 500 {
        return Err(format!("server error {}: {}", r.status, r.body));
    }
    let status = |want: u16| {
        if r.status == want {
            Ok(())
        } else {
            Err(format!(
                "expected {expected:?}, got {}: {}",
                r.status, r.body
            ))
        }
    };
    match expected {
        Expected::Status(want) => status(*want),
        Expected::NotFound => status(404),
        Expected::Illegal => {
            status(409)?;
            if r.body["rule"] != "schedule.illegal-transition" {
                return Err(format!("expected an illegal transition, got {}", r.body));
            }
            Ok(())
        }
        Expected::Conflict { rule, names } => {
            status(409)?;
            if r.body["rule"] != *rule {
                return Err(format!("expected rule {rule}, got {}", r.body));
            }
            let named = uuids(r.body["detail"].as_str().unwrap_or_default());
            if named != *names {
                let describe = |ids: &BTreeSet<Uuid>| {
                    ids.iter()
                        .map(|id| model.describe(*id))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(format!(
                    "the 409 names [{}], the model's conflicts are [{}]: {}",
                    describe(&named),
                    describe(names),
                    r.body["detail"]
                ));
            }
            Ok(())
        }
    }
}

impl Model {
    /// A readable name for an id of the world.
    fn describe(&self, id: Uuid) -> String {
        if let Some(p) = self.people.iter().position(|p| *p == id) {
            return format!("person {p}");
        }
        if let Some(t) = self.trucks.iter().position(|t| *t == id) {
            return format!("truck {t}");
        }
        if let Some(s) = self.schedules.iter().position(|s| s.id == id) {
            return format!("schedule #{s}");
        }
        if let Some(a) = self.absences.iter().position(|a| a.id == id) {
            return format!("unavailability #{a}");
        }
        id.to_string()
    }
}

/// The world one case runs in: a tenant of its own.
struct World<'a> {
    app: &'a TestApp,
    tenant: String,
    dispatcher: String,
    /// Each person's own token (crew answer their own invitations).
    crew_tokens: Vec<String>,
    base: DateTime<Utc>,
    model: Model,
}

impl<'a> World<'a> {
    async fn new(app: &'a TestApp, tenant: String) -> Self {
        let admin = app.token(&tenant, Role::Admin);
        let dispatcher = app.token(&tenant, Role::Dispatcher);
        let mut people = Vec::new();
        for i in 0..PEOPLE {
            let user = Uuid::new_v4();
            app.post(
                "/v1/staff",
                &admin,
                json!({"user_id": user, "display_name": format!("Person {i}"), "crew_roles": ROLES}),
            )
            .await
            .expect(201);
            people.push(user);
        }
        let mut trucks = Vec::new();
        for i in 0..TRUCKS {
            let r = app
                .post(
                    "/v1/equipment",
                    &admin,
                    json!({"location_id": "tor-1", "name": format!("Truck {i}"), "equipment_type": "TRUCK"}),
                )
                .await;
            r.expect(201);
            trucks.push(r.id().parse().expect("a uuid"));
        }
        let crew_tokens = people
            .iter()
            .map(|p| app.token_for(&tenant, *p, Role::Crew))
            .collect();
        let base = Utc::now()
            .duration_trunc(Duration::hours(1))
            .expect("an hour")
            + Duration::hours(24);
        Self {
            app,
            tenant,
            dispatcher,
            crew_tokens,
            base,
            model: Model {
                people,
                trucks,
                schedules: Vec::new(),
                absences: Vec::new(),
            },
        }
    }

    fn period(&self, start: i64, hours: i64) -> Period {
        let from = self.base + Duration::hours(start);
        (from, from + Duration::hours(hours))
    }

    /// An instant as the client writes it, in one of [`OFFSETS`].
    fn instant(at: DateTime<Utc>, offset: usize) -> String {
        at.with_timezone(&FixedOffset::east_opt(OFFSETS[offset]).expect("an offset"))
            .to_rfc3339()
    }

    fn crew_json(&self, crew: &[Member]) -> Value {
        crew.iter()
            .map(|m| json!({"user_id": self.model.people[m.person], "role": ROLES[m.role]}))
            .collect()
    }

    fn trucks_json(&self, trucks: &[(usize, bool)]) -> Value {
        let list = |vehicle: bool| -> Vec<Uuid> {
            trucks
                .iter()
                .filter(|(_, v)| *v == vehicle)
                .map(|(t, _)| self.model.trucks[*t])
                .collect()
        };
        json!({"equipment_ids": list(false), "vehicle_ids": list(true)})
    }

    /// The crew `crew` asks for, people already on `previous` keeping their
    /// answer.
    fn members(crew: &Crew, previous: &[Member]) -> Vec<Member> {
        crew.iter()
            .enumerate()
            .filter_map(|(person, role)| {
                role.map(|role| Member {
                    person,
                    role,
                    answer: previous
                        .iter()
                        .find(|m| m.person == person)
                        .map_or(Answer::Invited, |m| m.answer),
                })
            })
            .collect()
    }

    fn truck_list(trucks: &Trucks) -> Vec<(usize, bool)> {
        trucks
            .iter()
            .enumerate()
            .filter_map(|(t, vehicle)| vehicle.map(|v| (t, v)))
            .collect()
    }

    fn schedule_path(&self, i: usize, tail: &str) -> String {
        format!("/v1/schedules/{}{tail}", self.model.schedules[i].id)
    }

    /// Sends `op`, checks the answer against the model's prediction and
    /// applies it to the model. `None`: nothing to apply it to.
    async fn apply(&mut self, op: &Op) -> Result<Option<u16>, String> {
        let n = self.model.schedules.len();
        let dispatcher = self.dispatcher.clone();
        let app = self.app;
        let r = match op {
            Op::Create {
                crew,
                trucks,
                start,
                hours,
                offset,
            } => {
                let members = Self::members(crew, &[]);
                let trucks = Self::truck_list(trucks);
                let period = self.period(*start, *hours);
                let names = self.model.conflicts(
                    members.iter().map(|m| m.person),
                    trucks.iter().map(|(t, _)| *t),
                    period,
                    None,
                );
                let expected = refused_if("schedule.conflict", names, 201);
                let mut body = json!({
                    "location_id": "tor-1", "title": "Move", "type": "JOURNEY",
                    "starts_at": Self::instant(period.0, *offset),
                    "ends_at": Self::instant(period.1, *offset),
                    "crew": self.crew_json(&members),
                });
                let lists = self.trucks_json(&trucks);
                body["equipment_ids"] = lists["equipment_ids"].clone();
                body["vehicle_ids"] = lists["vehicle_ids"].clone();
                let r = app.post("/v1/schedules", &dispatcher, body).await;
                check_answer(&r, &expected, &self.model)?;
                if r.status == 201 {
                    self.model.schedules.push(ModelSchedule {
                        id: r.id().parse().map_err(|e| format!("schedule id: {e}"))?,
                        crew: members,
                        trucks,
                        period,
                        status: Status::Scheduled,
                    });
                }
                r
            }
            Op::Reschedule {
                pick,
                start,
                hours,
                offset,
            } => {
                if n == 0 {
                    return Ok(None);
                }
                let i = pick.index(n);
                let period = self.period(*start, *hours);
                let s = &self.model.schedules[i];
                let expected = if s.status != Status::Scheduled {
                    Expected::Illegal
                } else {
                    let names = self.model.conflicts(
                        s.crew
                            .iter()
                            .filter(|m| m.answer != Answer::Declined)
                            .map(|m| m.person),
                        s.trucks.iter().map(|(t, _)| *t),
                        period,
                        Some(i),
                    );
                    refused_if("schedule.conflict", names, 200)
                };
                let r = app
                    .post(
                        &self.schedule_path(i, "/reschedule"),
                        &dispatcher,
                        json!({"starts_at": Self::instant(period.0, *offset),
                               "ends_at": Self::instant(period.1, *offset),
                               "reason": "customer asked"}),
                    )
                    .await;
                check_answer(&r, &expected, &self.model)?;
                if r.status == 200 {
                    self.model.schedules[i].period = period;
                }
                r
            }
            Op::Update { pick, crew, trucks } => {
                if n == 0 {
                    return Ok(None);
                }
                let i = pick.index(n);
                let s = &self.model.schedules[i];
                let new_crew = crew
                    .as_ref()
                    .map_or_else(|| s.crew.clone(), |c| Self::members(c, &s.crew));
                let new_trucks = trucks
                    .as_ref()
                    .map_or_else(|| s.trucks.clone(), Self::truck_list);
                let expected = if !s.active() {
                    Expected::Illegal
                } else {
                    let people: Vec<usize> = if new_crew != s.crew {
                        new_crew
                            .iter()
                            .filter(|m| m.answer != Answer::Declined)
                            .map(|m| m.person)
                            .collect()
                    } else {
                        vec![]
                    };
                    let booked: Vec<usize> = if new_trucks != s.trucks {
                        new_trucks.iter().map(|(t, _)| *t).collect()
                    } else {
                        vec![]
                    };
                    let names = self.model.conflicts(people, booked, s.period, Some(i));
                    refused_if("schedule.conflict", names, 200)
                };
                let mut body = json!({});
                if crew.is_some() {
                    body["crew"] = self.crew_json(&new_crew);
                }
                if trucks.is_some() {
                    let lists = self.trucks_json(&new_trucks);
                    body["equipment_ids"] = lists["equipment_ids"].clone();
                    body["vehicle_ids"] = lists["vehicle_ids"].clone();
                }
                let r = app
                    .patch(&self.schedule_path(i, ""), &dispatcher, body)
                    .await;
                check_answer(&r, &expected, &self.model)?;
                if r.status == 200 {
                    let s = &mut self.model.schedules[i];
                    s.crew = new_crew;
                    s.trucks = new_trucks;
                }
                r
            }
            Op::Cancel { pick } | Op::Start { pick } | Op::Complete { pick } => {
                if n == 0 {
                    return Ok(None);
                }
                let i = pick.index(n);
                let status = self.model.schedules[i].status;
                let (tail, body, allowed, next) = match op {
                    Op::Cancel { .. } => (
                        "/cancel",
                        json!({"reason": "rain"}),
                        status == Status::Scheduled || status == Status::InProgress,
                        Status::Cancelled,
                    ),
                    Op::Start { .. } => (
                        "/start",
                        json!({}),
                        status == Status::Scheduled,
                        Status::InProgress,
                    ),
                    _ => (
                        "/complete",
                        json!({}),
                        status == Status::InProgress,
                        Status::Completed,
                    ),
                };
                let expected = if allowed {
                    Expected::Status(200)
                } else {
                    Expected::Illegal
                };
                let r = app
                    .post(&self.schedule_path(i, tail), &dispatcher, body)
                    .await;
                check_answer(&r, &expected, &self.model)?;
                if r.status == 200 {
                    self.model.schedules[i].status = next;
                }
                r
            }
            Op::Respond {
                pick,
                person,
                accept,
            } => {
                if n == 0 {
                    return Ok(None);
                }
                let i = pick.index(n);
                let s = &self.model.schedules[i];
                let answer = if *accept {
                    Answer::Accepted
                } else {
                    Answer::Declined
                };
                let expected = match s.member(*person) {
                    None => Expected::NotFound,
                    Some(_) if !s.active() => Expected::Illegal,
                    Some(m) if m.answer == Answer::Declined && answer == Answer::Accepted => {
                        // Booked again: refused when busy elsewhere since.
                        let names = self.model.conflicts([*person], [], s.period, Some(i));
                        refused_if("schedule.conflict", names, 200)
                    }
                    Some(_) => Expected::Status(200),
                };
                let user = self.model.people[*person];
                let verb = if *accept { "accept" } else { "decline" };
                let r = app
                    .post(
                        &self.schedule_path(i, &format!("/crew/{user}/{verb}")),
                        &self.crew_tokens[*person],
                        json!({}),
                    )
                    .await;
                check_answer(&r, &expected, &self.model)?;
                if r.status == 200 {
                    let s = &mut self.model.schedules[i];
                    if let Some(m) = s.crew.iter_mut().find(|m| m.person == *person) {
                        m.answer = answer;
                    }
                }
                r
            }
            Op::Unavailable {
                person,
                start,
                hours,
                is_available,
                offset,
            } => {
                let period = self.period(*start, *hours);
                let names: BTreeSet<Uuid> = if *is_available {
                    BTreeSet::new()
                } else {
                    let schedules: Vec<Uuid> = self
                        .model
                        .schedules
                        .iter()
                        .filter(|s| s.holds(*person) && overlaps(s.period, period))
                        .map(|s| s.id)
                        .collect();
                    if schedules.is_empty() {
                        BTreeSet::new()
                    } else {
                        schedules
                            .into_iter()
                            .chain([self.model.people[*person]])
                            .collect()
                    }
                };
                let expected = refused_if("availability.conflict", names, 201);
                let r = app
                    .post(
                        "/v1/availability",
                        &dispatcher,
                        json!({"user_id": self.model.people[*person], "is_available": is_available,
                               "type": "PERSONAL",
                               "starts_at": Self::instant(period.0, *offset),
                               "ends_at": Self::instant(period.1, *offset)}),
                    )
                    .await;
                check_answer(&r, &expected, &self.model)?;
                if r.status == 201 {
                    self.model.absences.push(Absence {
                        id: r
                            .id()
                            .parse()
                            .map_err(|e| format!("availability id: {e}"))?,
                        person: *person,
                        period,
                        unavailable: !is_available,
                        removed: false,
                    });
                }
                r
            }
            Op::Remove { pick } => {
                if self.model.absences.is_empty() {
                    return Ok(None);
                }
                let j = pick.index(self.model.absences.len());
                let r = app
                    .delete(
                        &format!("/v1/availability/{}", self.model.absences[j].id),
                        &dispatcher,
                    )
                    .await;
                // Removing is idempotent.
                check_answer(&r, &Expected::Status(200), &self.model)?;
                self.model.absences[j].removed = true;
                r
            }
        };
        Ok(Some(r.status))
    }

    /// The bookings in the database are the model's, and SQL finds no
    /// overlap either.
    async fn check_database(&self) -> Result<(), String> {
        let pool = self.app.pool();
        let db = |e: sqlx::Error| format!("database: {e}");
        let crew: BTreeSet<Booking> = sqlx::query_as(
            "SELECT kind, source_id, user_id, lower(period), upper(period) FROM crew_bookings
              WHERE tenant_id = $1",
        )
        .bind(&self.tenant)
        .fetch_all(pool)
        .await
        .map_err(db)?
        .into_iter()
        .collect();
        let equipment: BTreeSet<Booking> = sqlx::query_as(
            "SELECT kind, coalesce(source_id, booking_id), equipment_id, lower(period), upper(period)
               FROM equipment_bookings WHERE tenant_id = $1",
        )
        .bind(&self.tenant)
        .fetch_all(pool)
        .await
        .map_err(db)?
        .into_iter()
        .collect();
        let (want_crew, want_equipment) = self.model.bookings();
        for (what, got, want) in [
            ("crew_bookings", &crew, &want_crew),
            ("equipment_bookings", &equipment, &want_equipment),
        ] {
            if got != want {
                return Err(format!(
                    "{what} differ from the model: only in the database {:?}; only in the model {:?}",
                    got.difference(want).collect::<Vec<_>>(),
                    want.difference(got).collect::<Vec<_>>()
                ));
            }
        }
        for (what, sql) in [
            (
                "a person on two overlapping schedules",
                "SELECT count(*) FROM crew_bookings a JOIN crew_bookings b
                    ON a.tenant_id = b.tenant_id AND a.user_id = b.user_id
                   AND a.booking_id < b.booking_id AND a.period && b.period
                 WHERE a.tenant_id = $1 AND a.kind = 'schedule' AND b.kind = 'schedule'",
            ),
            (
                "a person scheduled over their unavailability",
                "SELECT count(*) FROM crew_bookings a JOIN crew_bookings b
                    ON a.tenant_id = b.tenant_id AND a.user_id = b.user_id AND a.period && b.period
                 WHERE a.tenant_id = $1 AND a.kind = 'schedule' AND b.kind = 'unavailable'",
            ),
            (
                "a truck booked twice",
                "SELECT count(*) FROM equipment_bookings a JOIN equipment_bookings b
                    ON a.tenant_id = b.tenant_id AND a.equipment_id = b.equipment_id
                   AND a.booking_id < b.booking_id AND a.period && b.period
                 WHERE a.tenant_id = $1",
            ),
        ] {
            let found: i64 = sqlx::query_scalar(sql)
                .bind(&self.tenant)
                .fetch_one(pool)
                .await
                .map_err(db)?;
            if found != 0 {
                return Err(format!("SQL finds {found}× {what}"));
            }
        }
        Ok(())
    }
}

/// How often each kind of command got each answer.
type Tally = BTreeMap<(&'static str, u16), usize>;

/// Runs one sequence in a fresh world (tenant `tenant` of `app`); `Err`
/// says which command broke what.
async fn run_case(
    app: &TestApp,
    tenant: String,
    ops: &[Op],
    tally: &mut Tally,
) -> Result<(), String> {
    let mut world = World::new(app, tenant).await;
    for (step, op) in ops.iter().enumerate() {
        let at = |e: String| format!("step {step} ({op:?}): {e}");
        if let Some(status) = world.apply(op).await.map_err(at)? {
            *tally.entry((op.kind(), status)).or_default() += 1;
        }
        world.model.check().map_err(at)?;
        world.check_database().await.map_err(at)?;
    }
    Ok(())
}

#[test]
fn accepted_schedules_never_overlap_per_person_or_truck_nor_cover_an_unavailability() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // PROPTEST_CASES=500 for a longer hunt.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(12);
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    });
    // One app; each case (and each shrinking step) in a tenant of its own,
    // which the bookings and their constraints are keyed by.
    let app = runtime.block_on(TestApp::spawn_with(Parts {
        command_api: true,
        http: true,
        ..Parts::default()
    }));
    let cases_run = std::cell::Cell::new(0_usize);
    let tally = std::cell::RefCell::new(Tally::new());
    let result = runner.run(&prop::collection::vec(op(), 15..=25), |ops| {
        cases_run.set(cases_run.get() + 1);
        let tenant = format!("case-{}", cases_run.get());
        runtime
            .block_on(run_case(&app, tenant, &ops, &mut tally.borrow_mut()))
            .map_err(TestCaseError::fail)
    });
    runtime.block_on(async move { drop(app) });
    if let Err(e) = result {
        panic!("{e}");
    }
    let tally = tally.into_inner();
    eprintln!("answers by command: {tally:?}");
    // The sequences exercise both sides: creates accepted and refused.
    let count = |kind, status| tally.get(&(kind, status)).copied().unwrap_or_default();
    assert!(
        count("create", 201) > 0 && count("create", 409) > 0,
        "{tally:?}"
    );
}
