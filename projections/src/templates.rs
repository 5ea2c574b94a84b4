//! `read.templates`: one row per message template (its current version)
//! and `read.template_versions`: the text of every version, which a
//! message records by number. `version` is the template's aggregate
//! sequence (its ETag); `template_version` counts edits (1, 2, …).

use event_schemas::template::{MessageTemplateEvent, TemplateContent};
use sqlx::PgConnection;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Templates;

const DDL: &str = r#"
CREATE TABLE templates (
    tenant_id        text        NOT NULL,
    id               uuid        NOT NULL,
    name             text        NOT NULL,
    template_type    text        NOT NULL,
    subject          text,
    content          text        NOT NULL,
    variables        jsonb       NOT NULL,
    description      text,
    category         text,
    tags             text[]      NOT NULL,
    purpose          text        NOT NULL,
    active           boolean     NOT NULL,
    template_version integer     NOT NULL,
    created_by       uuid        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX templates_newest ON templates (tenant_id, created_at DESC, id DESC);
CREATE TABLE template_versions (
    tenant_id        text        NOT NULL,
    template_id      uuid        NOT NULL,
    template_version integer     NOT NULL,
    name             text        NOT NULL,
    subject          text,
    content          text        NOT NULL,
    variables        jsonb       NOT NULL,
    purpose          text        NOT NULL,
    changed_fields   text[]      NOT NULL,
    created_by       uuid        NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, template_id, template_version)
);
"#;

fn variables_json(content: &TemplateContent) -> serde_json::Value {
    serde_json::to_value(&content.variables).unwrap_or_default()
}

#[async_trait::async_trait]
impl Projection for Templates {
    fn name(&self) -> &'static str {
        "templates"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["templates", "template_versions"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<MessageTemplateEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, MessageTemplateEvent::TemplateCreated(_));
        if !crate::applies(conn, "templates", ev, first).await? {
            return Ok(());
        }
        let (content, template_version, changed, by, at) = match event {
            MessageTemplateEvent::TemplateCreated(e) => {
                on_aggregate(
                    "INSERT INTO templates (tenant_id, id, name, template_type, subject, content, variables,
                                            description, category, tags, purpose, active, template_version,
                                            created_by, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, 1, $12, $13, $13, $14)",
                    ev,
                )?
                .bind(&e.content.name)
                .bind(e.template_type.as_str())
                .bind(&e.content.subject)
                .bind(&e.content.content)
                .bind(variables_json(&e.content))
                .bind(&e.content.description)
                .bind(&e.content.category)
                .bind(&e.content.tags)
                .bind(e.content.purpose.as_str())
                .bind(e.created_by)
                .bind(e.created_at)
                .bind(ev.event.sequence)
                .execute(&mut *conn)
                .await?;
                (&e.content, 1, Vec::new(), e.created_by, e.created_at)
            }
            MessageTemplateEvent::TemplateRevised(e) => {
                on_aggregate(
                    "UPDATE templates SET name = $3, subject = $4, content = $5, variables = $6, description = $7,
                                          category = $8, tags = $9, purpose = $10, template_version = $11
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(&e.content.name)
                .bind(&e.content.subject)
                .bind(&e.content.content)
                .bind(variables_json(&e.content))
                .bind(&e.content.description)
                .bind(&e.content.category)
                .bind(&e.content.tags)
                .bind(e.content.purpose.as_str())
                .bind(e.template_version as i32)
                .execute(&mut *conn)
                .await?;
                (
                    &e.content,
                    e.template_version,
                    e.changed_fields.clone(),
                    e.revised_by,
                    e.revised_at,
                )
            }
            MessageTemplateEvent::TemplateDeactivated(_) => {
                on_aggregate(
                    "UPDATE templates SET active = false WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .execute(&mut *conn)
                .await?;
                return Ok(());
            }
            MessageTemplateEvent::TemplateActivated(_) => {
                on_aggregate(
                    "UPDATE templates SET active = true WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .execute(&mut *conn)
                .await?;
                return Ok(());
            }
        };
        on_aggregate(
            "INSERT INTO template_versions (tenant_id, template_id, template_version, name, subject, content,
                                            variables, purpose, changed_fields, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            ev,
        )?
        .bind(template_version as i32)
        .bind(&content.name)
        .bind(&content.subject)
        .bind(&content.content)
        .bind(variables_json(content))
        .bind(content.purpose.as_str())
        .bind(changed)
        .bind(by)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
