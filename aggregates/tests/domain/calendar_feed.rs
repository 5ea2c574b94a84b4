//! Given/when/then tests of the `CalendarFeedToken` aggregate.

use aggregates::calendar_feed::{
    CalendarFeedAction, CalendarFeedCommand, CalendarFeedError, CalendarFeedToken,
};
use aggregates::{DomainError, ErrorKind};
use chrono::{DateTime, Utc};
use cqrs_es::test::TestFramework;
use event_schemas::TenantId;
use event_schemas::calendar::{
    CalendarFeedTokenEvent, CalendarFeedTokenIssued, CalendarFeedTokenRevoked,
};
use uuid::Uuid;

const ACTOR: Uuid = Uuid::from_u128(0xa001);
const TOKEN: Uuid = Uuid::from_u128(0xf001);
const DANA: Uuid = Uuid::from_u128(0xd001);

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-05-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn run(
    history: Vec<CalendarFeedTokenEvent>,
    action: CalendarFeedAction,
) -> Result<Vec<CalendarFeedTokenEvent>, CalendarFeedError> {
    TestFramework::<CalendarFeedToken>::with(())
        .given(history)
        .when(CalendarFeedCommand {
            at: at(),
            actor: ACTOR,
            action,
        })
        .inspect_result()
}

fn issue() -> CalendarFeedAction {
    CalendarFeedAction::Issue {
        tenant_id: TenantId::parse("acme").unwrap(),
        token_id: TOKEN,
        user_id: DANA,
        secret_digest: "ab".repeat(32),
    }
}

fn issued() -> Vec<CalendarFeedTokenEvent> {
    run(vec![], issue()).unwrap()
}

#[test]
fn a_token_is_issued_once_with_its_digest_only() {
    assert_eq!(
        issued(),
        vec![
            CalendarFeedTokenIssued {
                tenant_id: TenantId::parse("acme").unwrap(),
                token_id: TOKEN,
                user_id: DANA,
                secret_digest: "ab".repeat(32),
                issued_by: ACTOR,
                issued_at: at(),
            }
            .into()
        ]
    );
    let again = run(issued(), issue());
    assert_eq!(again, Err(CalendarFeedError::AlreadyIssued));
    assert!(matches!(
        CalendarFeedError::AlreadyIssued.kind(),
        ErrorKind::Conflict {
            rule: "calendar-feed.exists"
        }
    ));
}

#[test]
fn a_token_is_revoked_once_and_an_unknown_one_is_not_found() {
    let revoked = run(issued(), CalendarFeedAction::Revoke).unwrap();
    assert_eq!(
        revoked,
        vec![
            CalendarFeedTokenRevoked {
                revoked_by: ACTOR,
                revoked_at: at(),
            }
            .into()
        ]
    );
    let history: Vec<_> = issued().into_iter().chain(revoked).collect();
    assert_eq!(run(history, CalendarFeedAction::Revoke), Ok(vec![]));
    assert_eq!(
        run(vec![], CalendarFeedAction::Revoke),
        Err(CalendarFeedError::NotFound)
    );
}
