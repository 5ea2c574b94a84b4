//! Automated messages: a tenant's rules ("when X happens, send template Y
//! on channel Z after delay D, unless C holds by then") turned into
//! messages, once per rule and cause event.
//!
//! ```text
//!  JetStream ──the processes' consumer──▶ RuleTriggers (own tables: rules, what is due when)
//!                                            │
//!  ticker (CRM_POLICY_INTERVAL_SECS, one process at a time) ─ due rows ─▶ conditions checked
//!      on the records as they are then ─▶ a Communication (id from rule + cause), sent at once
//! ```
//!
//! A message's id is derived from its rule and its cause event, so a tick
//! that runs twice, or a crash between the message and the row's removal,
//! never sends two. A rule whose condition holds when its time comes does
//! nothing; so does one about a cancelled schedule or a voided invoice. A
//! JOURNEY reminder follows its schedule when it moves.

use std::sync::Arc;
use std::time::Duration;

use aggregates::communication::{
    Communication, CommunicationAction, CommunicationCommand, DraftInput,
};
use aggregates::customer::Customer;
use aggregates::invoice::Invoice;
use aggregates::lead::Lead;
use aggregates::quote::Quote;
use aggregates::schedule::Schedule;
use aggregates::template::MessageTemplate;
use aggregates::tenant_profile::TenantProfile;
use chrono::{DateTime, FixedOffset, Utc};
use event_schemas::communication::{CommunicationLinks, CommunicationType, RuleCause};
use event_schemas::invoice::InvoiceEvent;
use event_schemas::lead::LeadEvent;
use event_schemas::money::{InvoiceStatus, QuoteStatus};
use event_schemas::quote::QuoteEvent;
use event_schemas::rule::{CommunicationRuleEvent, RuleCondition, RuleTiming, RuleTrigger};
use event_schemas::schedule::{ScheduleEvent, ScheduleStatus, ScheduleType};
use event_schemas::template::MessagePurpose;
use event_schemas::{EventMetadata, LeadStatus, SYSTEM_USER, TenantId};
use event_store::{CommandError, Run, Store, Stores, Target};
use projections::{ProjectedEvent, Projection, ProjectionError};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::compose::{self, About};

/// Keeps the tenants' rules and what falls due when.
pub struct RuleTriggers {
    pub profiles: Arc<Store<TenantProfile>>,
}

const DDL: &str = r#"
CREATE TABLE rule_defs (
    tenant_id   text    NOT NULL,
    rule_id     uuid    NOT NULL,
    trigger     text    NOT NULL,
    timing      jsonb   NOT NULL,
    active      boolean NOT NULL,
    PRIMARY KEY (tenant_id, rule_id)
);
CREATE INDEX rule_defs_by_trigger ON rule_defs (tenant_id, trigger) WHERE active;
-- One row per rule and cause event, until its message is made or stopped.
CREATE TABLE rule_due (
    tenant_id      text        NOT NULL,
    rule_id        uuid        NOT NULL,
    cause_event_id uuid        NOT NULL,
    -- The record the trigger is about (a quote, invoice, schedule or lead).
    subject_id     uuid        NOT NULL,
    due_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, rule_id, cause_event_id)
);
CREATE INDEX rule_due_at ON rule_due (due_at);
CREATE INDEX rule_due_by_subject ON rule_due (tenant_id, subject_id);
"#;

/// When a rule set off at `at` by a record starting at `start` (a
/// schedule's) is due, in the tenant's zone `tz`.
pub fn due_at(
    timing: &RuleTiming,
    at: DateTime<Utc>,
    start: Option<DateTime<FixedOffset>>,
    tz: chrono_tz::Tz,
) -> Option<DateTime<Utc>> {
    match timing {
        RuleTiming::AfterEvent { minutes } => {
            Some(at + chrono::Duration::minutes(i64::from(*minutes)))
        }
        RuleTiming::BeforeStart { days, at: local } => {
            let start = start?;
            let day =
                start.with_timezone(&tz).date_naive() - chrono::Duration::days(i64::from(*days));
            let due = aggregates::recurrence::to_instant(tz, day.and_time(*local));
            // Booked later than that: at once, while the move is ahead.
            Some(due.max(at))
        }
    }
}

impl RuleTriggers {
    async fn triggered(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
        trigger: RuleTrigger,
        subject: Uuid,
        start: Option<DateTime<FixedOffset>>,
    ) -> Result<(), ProjectionError> {
        let tenant = ev.event.tenant.as_str();
        let rules: Vec<(Uuid, sqlx::types::Json<RuleTiming>)> = sqlx::query_as(
            "SELECT rule_id, timing FROM rule_defs WHERE tenant_id = $1 AND trigger = $2 AND active",
        )
        .bind(tenant)
        .bind(trigger.as_str())
        .fetch_all(&mut *conn)
        .await?;
        if rules.is_empty() {
            return Ok(());
        }
        let tz = if start.is_some() {
            self.profiles
                .load_or_new(
                    &ev.event.tenant,
                    event_schemas::tenant::profile_id(&ev.event.tenant),
                )
                .await
                .map_err(|e| ProjectionError::Decode(format!("the tenant's profile: {e}")))?
                .state()
                .time_zone()
        } else {
            chrono_tz::UTC
        };
        for (rule_id, timing) in rules {
            let Some(due) = due_at(&timing.0, ev.event.time, start, tz) else {
                continue;
            };
            sqlx::query(
                "INSERT INTO rule_due (tenant_id, rule_id, cause_event_id, subject_id, due_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(rule_id)
            .bind(ev.event.id)
            .bind(subject)
            .bind(due)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// A schedule moved: its reminders follow.
    async fn moved(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
        schedule: Uuid,
        start: DateTime<FixedOffset>,
    ) -> Result<(), ProjectionError> {
        let tenant = ev.event.tenant.as_str();
        let pending: Vec<(Uuid, Uuid, sqlx::types::Json<RuleTiming>)> = sqlx::query_as(
            "SELECT d.rule_id, d.cause_event_id, r.timing
               FROM rule_due d JOIN rule_defs r USING (tenant_id, rule_id)
              WHERE d.tenant_id = $1 AND d.subject_id = $2",
        )
        .bind(tenant)
        .bind(schedule)
        .fetch_all(&mut *conn)
        .await?;
        if pending.is_empty() {
            return Ok(());
        }
        let tz = self
            .profiles
            .load_or_new(
                &ev.event.tenant,
                event_schemas::tenant::profile_id(&ev.event.tenant),
            )
            .await
            .map_err(|e| ProjectionError::Decode(format!("the tenant's profile: {e}")))?
            .state()
            .time_zone();
        for (rule_id, cause, timing) in pending {
            let Some(due) = due_at(&timing.0, ev.event.time, Some(start), tz) else {
                continue;
            };
            sqlx::query(
                "UPDATE rule_due SET due_at = $4 WHERE tenant_id = $1 AND rule_id = $2 AND cause_event_id = $3",
            )
            .bind(tenant)
            .bind(rule_id)
            .bind(cause)
            .bind(due)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

fn aggregate_id(ev: &ProjectedEvent) -> Result<Uuid, ProjectionError> {
    ev.event
        .aggregateid
        .parse()
        .map_err(|e| ProjectionError::Decode(format!("{} id: {e}", ev.event.aggregatetype)))
}

#[async_trait::async_trait]
impl Projection for RuleTriggers {
    fn name(&self) -> &'static str {
        "communication-rules"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rule_defs", "rule_due"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let tenant = ev.event.tenant.as_str();
        if let Some(event) = ev.typed::<CommunicationRuleEvent>()? {
            match event {
                CommunicationRuleEvent::CommunicationRuleCreated(e) => {
                    sqlx::query(
                        "INSERT INTO rule_defs (tenant_id, rule_id, trigger, timing, active)
                         VALUES ($1, $2, $3, $4, true) ON CONFLICT DO NOTHING",
                    )
                    .bind(tenant)
                    .bind(e.rule_id)
                    .bind(e.trigger.as_str())
                    .bind(sqlx::types::Json(&e.timing))
                    .execute(&mut *conn)
                    .await?;
                }
                CommunicationRuleEvent::CommunicationRuleDeleted(_) => {
                    let rule = aggregate_id(ev)?;
                    sqlx::query(
                        "UPDATE rule_defs SET active = false WHERE tenant_id = $1 AND rule_id = $2",
                    )
                    .bind(tenant)
                    .bind(rule)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query("DELETE FROM rule_due WHERE tenant_id = $1 AND rule_id = $2")
                        .bind(tenant)
                        .bind(rule)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            return Ok(());
        }
        if let Some(QuoteEvent::QuoteSent(_)) = ev.typed::<QuoteEvent>()? {
            return self
                .triggered(conn, ev, RuleTrigger::QuoteSent, aggregate_id(ev)?, None)
                .await;
        }
        if let Some(InvoiceEvent::InvoiceOverdue(_)) = ev.typed::<InvoiceEvent>()? {
            return self
                .triggered(
                    conn,
                    ev,
                    RuleTrigger::InvoiceOverdue,
                    aggregate_id(ev)?,
                    None,
                )
                .await;
        }
        if ev.event.aggregatetype == event_schemas::lead::AGGREGATE_TYPE
            && ev.event.event_type == "LeadCreated"
        {
            if let Some(LeadEvent::LeadCreated(e)) = ev.typed::<LeadEvent>()? {
                return self
                    .triggered(conn, ev, RuleTrigger::LeadCreated, e.lead_id, None)
                    .await;
            }
            return Ok(());
        }
        match ev.typed::<ScheduleEvent>()? {
            Some(ScheduleEvent::ScheduleCreated(e)) if e.schedule_type == ScheduleType::Journey => {
                self.triggered(
                    conn,
                    ev,
                    RuleTrigger::JourneyScheduled,
                    e.schedule_id,
                    Some(e.starts_at),
                )
                .await
            }
            Some(ScheduleEvent::ScheduleRescheduled(e)) => {
                self.moved(conn, ev, aggregate_id(ev)?, e.starts_at).await
            }
            _ => Ok(()),
        }
    }
}

/// What firing the due rules needs.
#[derive(Clone)]
pub struct RuleRunner {
    pub pool: PgPool,
    pub stores: Stores,
    pub renderer: Arc<templating::Renderer>,
    pub keystore: Arc<keystore::KeyStore>,
    /// Where the public API is reached (unsubscribe links).
    pub public_url: String,
}

/// What a round of due rules did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RulesReport {
    /// Messages made (and queued).
    pub sent: usize,
    /// Rules whose condition held, or whose record is gone, cancelled or
    /// voided: nothing sent.
    pub stopped: usize,
    /// Rules that could not make their message (a missing address, no
    /// consent for marketing, a template that no longer renders): logged.
    pub failed: usize,
}

/// The id of the message rule `rule` makes for cause event `cause`.
pub fn message_id(rule: Uuid, cause: Uuid) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6d6f_7665_7273_2d63_726d_2d72_756c_6573);
    Uuid::new_v5(&NAMESPACE, format!("{rule}/{cause}").as_bytes())
}

enum Fire {
    Sent,
    Stopped(&'static str),
    Failed(String),
}

impl RuleRunner {
    /// Makes the messages of the rules due at `now` (at most 500 a round).
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<RulesReport, sqlx::Error> {
        let due: Vec<(String, Uuid, Uuid, Uuid)> = sqlx::query_as(
            "SELECT tenant_id, rule_id, cause_event_id, subject_id FROM read.rule_due
              WHERE due_at <= $1 ORDER BY due_at LIMIT 500",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut report = RulesReport::default();
        for (tenant, rule, cause, subject) in due {
            let Ok(tenant) = TenantId::parse(&tenant) else {
                continue;
            };
            match self.fire(&tenant, rule, cause, subject).await {
                Fire::Sent => report.sent += 1,
                Fire::Stopped(why) => {
                    tracing::info!(%rule, %cause, why, "an automated message was not sent");
                    report.stopped += 1;
                }
                Fire::Failed(why) => {
                    tracing::warn!(%rule, %cause, %why, "an automated message could not be made");
                    report.failed += 1;
                }
            }
            sqlx::query(
                "DELETE FROM read.rule_due WHERE tenant_id = $1 AND rule_id = $2 AND cause_event_id = $3",
            )
            .bind(tenant.as_str())
            .bind(rule)
            .bind(cause)
            .execute(&self.pool)
            .await?;
        }
        Ok(report)
    }

    async fn fire(&self, tenant: &TenantId, rule_id: Uuid, cause: Uuid, subject: Uuid) -> Fire {
        match self.compose_and_send(tenant, rule_id, cause, subject).await {
            Ok(fire) => fire,
            Err(e) => Fire::Failed(e.to_string()),
        }
    }

    async fn compose_and_send(
        &self,
        tenant: &TenantId,
        rule_id: Uuid,
        cause: Uuid,
        subject: Uuid,
    ) -> Result<Fire, compose::ComposeError> {
        use compose::load;
        let rule: aggregates::rule::CommunicationRule =
            load(&self.stores, tenant, "rule", rule_id).await?;
        let Some(def) = rule.created.clone() else {
            return Ok(Fire::Stopped("the rule is gone"));
        };
        if rule.deleted {
            return Ok(Fire::Stopped("the rule was deleted"));
        }
        let stop = |c: RuleCondition| def.unless.contains(&c);
        // The records the message is about, as they are now.
        let mut about = About::default();
        match def.trigger {
            RuleTrigger::QuoteSent => {
                let quote: Quote = load(&self.stores, tenant, "quote_id", subject).await?;
                let status = quote.status();
                if (stop(RuleCondition::QuoteAccepted)
                    && matches!(status, QuoteStatus::Accepted | QuoteStatus::Converted))
                    || (stop(RuleCondition::QuoteRejected) && status == QuoteStatus::Rejected)
                {
                    return Ok(Fire::Stopped("the quote was answered"));
                }
                about.quote = Some(subject);
                about.customer = quote.customer_id;
                about.lead = quote.lead_id;
            }
            RuleTrigger::InvoiceOverdue => {
                let invoice: Invoice = load(&self.stores, tenant, "invoice_id", subject).await?;
                if invoice.voided {
                    return Ok(Fire::Stopped("the invoice was voided"));
                }
                if stop(RuleCondition::InvoicePaid)
                    && (invoice.status() == InvoiceStatus::Paid
                        || invoice.balance() <= rust_decimal::Decimal::ZERO)
                {
                    return Ok(Fire::Stopped("the invoice was paid"));
                }
                about.invoice = Some(subject);
                about.customer = invoice.customer_id;
                about.lead = invoice.lead_id;
                about.quote = invoice.quote_id;
            }
            RuleTrigger::JourneyScheduled => {
                let schedule: Schedule = load(&self.stores, tenant, "schedule_id", subject).await?;
                match schedule.status {
                    Some(ScheduleStatus::Cancelled) => {
                        return Ok(Fire::Stopped("the schedule was cancelled"));
                    }
                    Some(ScheduleStatus::Completed | ScheduleStatus::InProgress) => {
                        return Ok(Fire::Stopped("the move has started"));
                    }
                    _ => {}
                }
                let Some(lead_id) = schedule.lead_id() else {
                    return Ok(Fire::Stopped("the schedule has no lead, hence no customer"));
                };
                let lead: Lead = load(&self.stores, tenant, "lead_id", lead_id).await?;
                about.schedule = Some(subject);
                about.lead = Some(lead_id);
                about.customer = lead.customer_id;
                about.quote = schedule.created.as_ref().and_then(|c| c.link.quote_id);
            }
            RuleTrigger::LeadCreated => {
                let lead: Lead = load(&self.stores, tenant, "lead_id", subject).await?;
                about.lead = Some(subject);
                about.customer = lead.customer_id;
            }
        }
        if stop(RuleCondition::LeadClosed)
            && let Some(lead_id) = about.lead
        {
            let lead: Lead = load(&self.stores, tenant, "lead_id", lead_id).await?;
            if matches!(
                lead.status,
                Some(LeadStatus::Won | LeadStatus::Lost | LeadStatus::Archived)
            ) {
                return Ok(Fire::Stopped("the lead was closed"));
            }
        }
        let Some(customer_id) = about.customer else {
            return Ok(Fire::Stopped("no customer to write to"));
        };
        let customer: Customer = load(&self.stores, tenant, "customer_id", customer_id).await?;
        if customer.forgotten {
            return Ok(Fire::Stopped("the customer was forgotten"));
        }
        let Some(recipient) = compose::customer_address(&customer, def.channel) else {
            return Ok(Fire::Failed(format!(
                "the customer has no address for {}",
                def.channel
            )));
        };
        let id = message_id(rule_id, cause);
        let profile: TenantProfile = self
            .stores
            .get::<TenantProfile>()
            .load_or_new(tenant, event_schemas::tenant::profile_id(tenant))
            .await
            .map_err(|e| compose::ComposeError::Store(e.to_string()))?
            .state()
            .clone();
        let unsubscribe_url = compose::unsubscribe_url(
            &self.keystore,
            &self.public_url,
            tenant,
            customer_id,
            def.channel,
            id,
        )
        .await
        .map_err(|e| compose::ComposeError::Store(e.to_string()))?;
        let built_ins = compose::built_ins(
            &self.stores,
            tenant,
            &profile,
            (&about, Some(&customer)),
            Some(&unsubscribe_url),
        )
        .await?;
        let template: MessageTemplate =
            load(&self.stores, tenant, "template_id", def.template_id).await?;
        let rendered = compose::render(
            &self.renderer,
            def.template_id,
            &template,
            def.channel,
            serde_json::Map::new(),
            built_ins,
        )
        .await?;
        let marketing = rendered.purpose == MessagePurpose::Marketing;
        let unsubscribe_url =
            (marketing && def.channel == CommunicationType::Email).then_some(unsubscribe_url);
        let mut content = match &unsubscribe_url {
            Some(url) => compose::with_unsubscribe_link(rendered.content, url),
            None => rendered.content,
        };
        if def.channel == CommunicationType::Email && profile.email_open_tracking() {
            content.push_str(
                &compose::open_pixel(&self.keystore, &self.public_url, tenant, id)
                    .await
                    .map_err(|e| compose::ComposeError::Store(e.to_string()))?,
            );
        }
        let today = Utc::now().with_timezone(&profile.time_zone()).date_naive();
        let consent = marketing.then(|| customer.marketing_consent(def.channel, today).map(drop));
        let command = CommunicationCommand {
            at: Utc::now(),
            actor: SYSTEM_USER,
            consent,
            action: CommunicationAction::Draft {
                tenant_id: tenant.clone(),
                communication_id: id,
                input: Box::new(DraftInput {
                    channel: def.channel,
                    purpose: rendered.purpose,
                    customer_id: Some(customer_id),
                    staff_user_id: None,
                    recipient,
                    subject: rendered.subject,
                    content,
                    template: Some(rendered.template),
                    variables: Some(rendered.variables),
                    attachments: Vec::new(),
                    metadata: None,
                    unsubscribe_url,
                    tags: vec!["automated".to_owned()],
                    links: CommunicationLinks {
                        lead_id: about.lead,
                        quote_id: about.quote,
                        invoice_id: about.invoice,
                        schedule_id: about.schedule,
                    },
                    rule: Some(RuleCause {
                        rule_id,
                        cause_event_id: cause,
                    }),
                }),
                send: true,
            },
        };
        let run = Run::new(tenant, Target::New(id));
        let outcome = self
            .stores
            .get::<Communication>()
            .run(
                run,
                || EventMetadata::system(tenant, format!("rule:{rule_id}")),
                |_| {
                    Ok::<_, CommandError<aggregates::communication::CommunicationError>>(
                        command.clone(),
                    )
                },
            )
            .await;
        Ok(match outcome {
            Ok(_) => Fire::Sent,
            // Made by an earlier round that stopped before removing its row.
            Err(CommandError::Conflict)
            | Err(CommandError::Domain(
                aggregates::communication::CommunicationError::AlreadyExists,
            )) => Fire::Stopped("already made"),
            Err(e) => Fire::Failed(e.to_string()),
        })
    }
}

/// Runs the due rules every `interval` until `shutdown`, one process at a
/// time (an advisory lock per round).
pub async fn run(runner: RuleRunner, interval: Duration, shutdown: CancellationToken) {
    const LOCK: i64 = 0x7275_6c65_7321; // "rules!"
    crate::every_locked(&runner.pool, LOCK, interval, &shutdown, || async {
        match runner.run_once(Utc::now()).await {
            Ok(report) if report != RulesReport::default() => {
                tracing::info!(?report, "automated messages made")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a round of automated messages failed"),
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_the_day_before_at_six_is_in_the_tenants_zone_and_never_before_the_booking() {
        let tz: chrono_tz::Tz = "America/Toronto".parse().unwrap();
        let start = DateTime::parse_from_rfc3339("2027-06-30T08:00:00-04:00").unwrap();
        let booked = DateTime::parse_from_rfc3339("2027-06-01T12:00:00Z")
            .unwrap()
            .to_utc();
        let timing = RuleTiming::BeforeStart {
            days: 1,
            at: chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        };
        assert_eq!(
            due_at(&timing, booked, Some(start), tz).unwrap(),
            DateTime::parse_from_rfc3339("2027-06-29T22:00:00Z").unwrap()
        );
        // Booked after that moment: at once.
        let late = DateTime::parse_from_rfc3339("2027-06-29T23:30:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(due_at(&timing, late, Some(start), tz).unwrap(), late);
        // Three days after an event.
        assert_eq!(
            due_at(
                &RuleTiming::AfterEvent {
                    minutes: 3 * 24 * 60
                },
                booked,
                None,
                tz
            )
            .unwrap(),
            booked + chrono::Duration::days(3)
        );
        assert_eq!(due_at(&timing, booked, None, tz), None);
    }

    #[test]
    fn a_rule_and_a_cause_always_make_the_same_message() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(message_id(a, b), message_id(a, b));
        assert_ne!(message_id(a, b), message_id(b, a));
    }
}
