//! The sales process manager: keeps each lead's pipeline status true to its
//! quotes.
//!
//! ```text
//!  JetStream ──its own consumer──▶ LeadPipeline::apply ──▶ pipeline_quotes (own state)
//!                                         │
//!                                         └─▶ Lead: PipelineMove { to, cause: quote event }
//! ```
//!
//! Rules (a move only ever goes forward along the pipeline; a lead that is
//! further along, WON, LOST or ARCHIVED is left alone):
//!
//! * **quote-sent**: sending a quote of the lead moves a lead before
//!   PROPOSAL_SENT (NEW, CONTACTED, QUALIFIED) to PROPOSAL_SENT. The first
//!   sent quote is the one that moves it; later ones find it there already.
//! * **quote-accepted**: accepting a quote moves the lead to WON.
//! * **quotes-rejected**: when a rejection leaves the lead with no quote
//!   awaiting an answer (SENT or VIEWED) and none accepted or converted, a
//!   lead at PROPOSAL_SENT moves to NEGOTIATION: the customer turned down
//!   what was sent, so the next step is to negotiate a revision. A lead in
//!   any other status stays. Drafts not yet sent, expired quotes and
//!   templates do not count as open.
//!
//! * **quote-converted**: converting a quote (which records its journey id)
//!   puts a SCHEDULED, unstaffed JOURNEY on the dispatch board for that
//!   journey, on the lead's move date, from the start of that day's working
//!   hours for the tenant's default job duration, in the tenant's time zone
//!   (`aggregates::schedule::journey_plan`). A lead without a move date gets
//!   none (the conversion's answer says so). One schedule per journey: its id
//!   is derived from the journey id, so a redelivered event finds it.
//!
//! Restart-safe and idempotent: it runs as a projection (exactly-once
//! checkpoint for its own table), and each lead command carries the quote
//! event's id as its cause, which the Lead aggregate acts on at most once, so
//! a redelivered event or a replay moves nothing twice. It also carries the
//! lead's version at the quote event, in the stream's (commit) order: a lead
//! whose status a person changed after the quote event is left alone, so a
//! rebuild that replays old quote events never overrides what happened to
//! the lead since (e.g. an acceptance while the lead was LOST, the lead
//! reopened later), while the process's own moves committed after the event
//! never block it (a quote sent and accepted at once ends WON). Clocks are
//! never compared: readings of different writers are no order. The lead's events
//! carry `causation_id` = the quote event's id and the quote command's
//! correlation id, with actor `system`.

use std::sync::Arc;

use aggregates::lead::{Lead, LeadAction, LeadCommand, LeadError};
use aggregates::schedule::{
    Schedule, ScheduleAction, ScheduleCommand, ScheduleError, ScheduleFacts, ScheduleInput,
    journey_plan, journey_schedule_id,
};
use aggregates::tenant_profile::TenantProfile;
use chrono::Utc;
use event_schemas::lead::PipelineCause;
use event_schemas::money::QuoteStatus;
use event_schemas::quote::QuoteEvent;
use event_schemas::schedule::{ScheduleCause, ScheduleLink, SchedulePriority, ScheduleType};
use event_schemas::tenant::profile_id;
use event_schemas::{EventMetadata, LeadStatus, Role, SYSTEM_USER};
use event_store::{CommandError, Run, Store, Target};
use projections::{ProjectedEvent, Projection, ProjectionError};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct LeadPipeline {
    pub leads: Arc<Store<Lead>>,
    pub schedules: Arc<Store<Schedule>>,
    pub profiles: Arc<Store<TenantProfile>>,
}

const DDL: &str = r#"
CREATE TABLE pipeline_quotes (
    tenant_id text NOT NULL,
    quote_id  uuid NOT NULL,
    lead_id   uuid NOT NULL,
    status    text NOT NULL,
    PRIMARY KEY (tenant_id, quote_id)
);
CREATE INDEX pipeline_quotes_by_lead ON pipeline_quotes (tenant_id, lead_id);
"#;

/// The statuses in which a quote keeps a lead out of NEGOTIATION.
const OPEN_OR_WON: &[&str] = &["SENT", "VIEWED", "ACCEPTED", "CONVERTED"];

/// A lead move decided from one quote event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub to: LeadStatus,
    pub only_from: Vec<LeadStatus>,
    pub rule: &'static str,
}

/// The move (if any) after a quote reached `status`; `open_or_won` counts the
/// lead's quotes that are awaiting an answer, accepted or converted (after
/// this event).
pub fn decide(status: QuoteStatus, open_or_won: i64) -> Option<Move> {
    match status {
        QuoteStatus::Sent => Some(Move {
            to: LeadStatus::ProposalSent,
            only_from: vec![],
            rule: "quote-sent",
        }),
        QuoteStatus::Accepted => Some(Move {
            to: LeadStatus::Won,
            only_from: vec![],
            rule: "quote-accepted",
        }),
        QuoteStatus::Rejected if open_or_won == 0 => Some(Move {
            to: LeadStatus::Negotiation,
            only_from: vec![LeadStatus::ProposalSent],
            rule: "quotes-rejected",
        }),
        _ => None,
    }
}

/// The status a quote event leaves the quote in, for those that move it.
fn status_after(event: &QuoteEvent) -> Option<QuoteStatus> {
    Some(match event {
        QuoteEvent::QuoteSent(_) => QuoteStatus::Sent,
        QuoteEvent::QuoteViewed(_) => QuoteStatus::Viewed,
        QuoteEvent::QuoteAccepted(_) => QuoteStatus::Accepted,
        QuoteEvent::QuoteRejected(_) => QuoteStatus::Rejected,
        QuoteEvent::QuoteExpired(_) => QuoteStatus::Expired,
        QuoteEvent::QuoteRevised(_) => QuoteStatus::Draft,
        QuoteEvent::QuoteConverted(_) => QuoteStatus::Converted,
        QuoteEvent::QuoteDrafted(_)
        | QuoteEvent::QuoteDraftUpdated(_)
        | QuoteEvent::QuoteApproved(_)
        | QuoteEvent::QuoteDepositRecorded(_)
        | QuoteEvent::QuoteInvoiced(_) => return None,
    })
}

impl LeadPipeline {
    /// Puts the converted quote's job on the dispatch board (see the module
    /// docs); nothing without a move date.
    async fn schedule_journey(
        &self,
        ev: &ProjectedEvent,
        lead_id: Uuid,
        quote_id: Uuid,
        journey_id: Uuid,
    ) -> Result<(), ProjectionError> {
        let e = &ev.event;
        let retry = |err: CommandError<_>| ProjectionError::CommandRetry(err.to_string());
        let lead = match self.leads.find(&e.tenant, lead_id).await {
            Ok(Some(lead)) => lead,
            Ok(None) => return Ok(()),
            Err(err) => return Err(retry(err)),
        };
        let profile = self
            .profiles
            .load_or_new(&e.tenant, profile_id(&e.tenant))
            .await
            .map_err(|err| ProjectionError::CommandRetry(err.to_string()))?;
        let profile = profile.state();
        let Some((starts_at, ends_at)) = journey_plan(profile, lead.state().estimated_move_date)
        else {
            tracing::info!(%lead_id, %quote_id, %journey_id, "converted without a move date: no journey scheduled");
            return Ok(());
        };
        let location_id = lead
            .state()
            .location_id
            .clone()
            .or_else(|| profile.locations().first().map(|l| l.location_id.clone()))
            .unwrap_or_else(|| "main".to_owned());
        let schedule_id = journey_schedule_id(journey_id);
        let command = ScheduleCommand {
            at: Utc::now(),
            actor: SYSTEM_USER,
            // An unstaffed journey: no crew to check; any location the lead
            // names is taken as given.
            facts: ScheduleFacts::default(),
            action: ScheduleAction::Create {
                tenant_id: e.tenant.clone(),
                schedule_id,
                input: ScheduleInput {
                    location_id,
                    title: format!("Journey {journey_id}"),
                    description: None,
                    schedule_type: ScheduleType::Journey,
                    priority: SchedulePriority::Normal,
                    starts_at,
                    ends_at,
                    crew: vec![],
                    equipment_ids: vec![],
                    vehicle_ids: vec![],
                    link: ScheduleLink {
                        lead_id: Some(lead_id),
                        quote_id: Some(quote_id),
                        journey_id: Some(journey_id),
                    },
                },
                cause: Some(ScheduleCause {
                    event_id: e.id.to_string(),
                    rule: "quote-converted".to_owned(),
                }),
            },
        };
        let metadata = || EventMetadata {
            tenant_id: e.tenant.clone(),
            user_id: SYSTEM_USER,
            role: Role::System,
            correlation_id: e.correlationid.clone(),
            causation_id: e.id.to_string(),
            command_id: Uuid::now_v7(),
            recorded_at: Utc::now(),
            policy_version: None,
            policy_valid_until: None,
        };
        let run = Run::new(&e.tenant, Target::New(schedule_id));
        match self
            .schedules
            .run(run, metadata, |_| Ok(command.clone()))
            .await
        {
            Ok(_) => {
                tracing::info!(%journey_id, %schedule_id, %starts_at, "journey scheduled by the sales process");
                Ok(())
            }
            // Scheduled before (a redelivered or replayed conversion).
            Err(CommandError::Domain(ScheduleError::AlreadyExists) | CommandError::Conflict) => {
                Ok(())
            }
            Err(CommandError::Domain(other)) => {
                tracing::warn!(%journey_id, error = %other, "the sales process could not schedule the journey");
                Ok(())
            }
            Err(CommandError::Unavailable(detail)) => Err(ProjectionError::CommandRetry(detail)),
            Err(other) => Err(ProjectionError::Command(format!(
                "scheduling journey {journey_id}: {other}"
            ))),
        }
    }

    async fn move_lead(
        &self,
        ev: &ProjectedEvent,
        lead_id: Uuid,
        quote_id: Uuid,
        decided: Move,
    ) -> Result<(), ProjectionError> {
        let e = &ev.event;
        let cause = PipelineCause {
            event_id: e.id.to_string(),
            quote_id,
            rule: decided.rule.to_owned(),
        };
        // The lead's version when the quote event was committed.
        let as_of_version = match self.leads.version_before(lead_id, e.position).await {
            Ok(Some(version)) => version,
            Ok(None) => {
                return Err(ProjectionError::Command(format!(
                    "quote event {} (position {}) is not in the event store",
                    e.id, e.position
                )));
            }
            Err(err) => return Err(ProjectionError::CommandRetry(err.to_string())),
        };
        let command = || LeadCommand {
            at: Utc::now(),
            actor: SYSTEM_USER,
            action: LeadAction::PipelineMove {
                to: decided.to,
                only_from: decided.only_from.clone(),
                cause: cause.clone(),
                as_of_version,
            },
        };
        let metadata = || EventMetadata {
            tenant_id: e.tenant.clone(),
            user_id: SYSTEM_USER,
            role: Role::System,
            correlation_id: e.correlationid.clone(),
            causation_id: e.id.to_string(),
            command_id: Uuid::now_v7(),
            recorded_at: Utc::now(),
            policy_version: None,
            policy_valid_until: None,
        };
        let run = Run::new(&e.tenant, Target::Existing(lead_id));
        match self.leads.run(run, metadata, |_| Ok(command())).await {
            Ok(committed) => {
                if committed.events > 0 {
                    tracing::info!(%lead_id, %quote_id, to = %decided.to, rule = decided.rule, "lead moved by the sales process");
                }
                Ok(())
            }
            Err(CommandError::NotFound { .. }) => {
                tracing::warn!(%lead_id, %quote_id, "the quote's lead does not exist; nothing to move");
                Ok(())
            }
            // A closed (archived) lead is left alone.
            Err(CommandError::Domain(LeadError::Closed(_))) => Ok(()),
            Err(CommandError::Domain(other)) => {
                tracing::warn!(%lead_id, %quote_id, error = %other, "the sales process could not move the lead");
                Ok(())
            }
            // The event store is unavailable, or the lead kept changing under
            // the process: the event is redelivered.
            Err(CommandError::Unavailable(detail)) => Err(ProjectionError::CommandRetry(detail)),
            Err(CommandError::Conflict) => Err(ProjectionError::CommandRetry(format!(
                "lead {lead_id} kept changing under the sales process"
            ))),
            // Refused by the database, a lead that cannot be loaded (a stored
            // event that does not decode) or an internal failure: the same
            // command would fail again; the process stops visibly.
            Err(other) => Err(ProjectionError::Command(format!(
                "moving lead {lead_id}: {other}"
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Projection for LeadPipeline {
    fn name(&self) -> &'static str {
        "lead-pipeline"
    }

    fn issues_commands(&self) -> bool {
        true
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["pipeline_quotes"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<QuoteEvent>()? else {
            return Ok(());
        };
        let tenant = ev.event.tenant.as_str();
        let quote_id = ev.aggregate_uuid()?;
        if let QuoteEvent::QuoteDrafted(d) = event {
            if let (false, Some(lead)) = (d.is_template, d.lead_id) {
                sqlx::query(
                    "INSERT INTO pipeline_quotes (tenant_id, quote_id, lead_id, status)
                     VALUES ($1, $2, $3, 'DRAFT') ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(quote_id)
                .bind(lead)
                .execute(&mut *conn)
                .await?;
            }
            return Ok(());
        }
        let converted = match event {
            QuoteEvent::QuoteConverted(c) => Some(c.journey_id),
            _ => None,
        };
        let Some(status) = status_after(event) else {
            return Ok(());
        };
        let lead: Option<Uuid> = sqlx::query_scalar(
            "UPDATE pipeline_quotes SET status = $3 WHERE tenant_id = $1 AND quote_id = $2 RETURNING lead_id",
        )
        .bind(tenant)
        .bind(quote_id)
        .bind(status.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(lead) = lead else {
            return Ok(());
        };
        if let Some(journey_id) = converted {
            self.schedule_journey(ev, lead, quote_id, journey_id)
                .await?;
        }
        let open_or_won: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pipeline_quotes
              WHERE tenant_id = $1 AND lead_id = $2 AND status = ANY($3)",
        )
        .bind(tenant)
        .bind(lead)
        .bind(OPEN_OR_WON)
        .fetch_one(&mut *conn)
        .await?;
        match decide(status, open_or_won) {
            Some(decided) => self.move_lead(ev, lead, quote_id, decided).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_quote_proposes_and_an_accepted_one_wins() {
        assert_eq!(
            decide(QuoteStatus::Sent, 1).unwrap().to,
            LeadStatus::ProposalSent
        );
        assert_eq!(
            decide(QuoteStatus::Accepted, 1).unwrap().to,
            LeadStatus::Won
        );
        assert_eq!(decide(QuoteStatus::Viewed, 1), None);
        assert_eq!(decide(QuoteStatus::Expired, 0), None);
    }

    #[test]
    fn a_rejection_negotiates_only_when_nothing_is_left_open() {
        assert_eq!(decide(QuoteStatus::Rejected, 1), None);
        let m = decide(QuoteStatus::Rejected, 0).unwrap();
        assert_eq!(m.to, LeadStatus::Negotiation);
        assert_eq!(m.only_from, vec![LeadStatus::ProposalSent]);
    }
}
