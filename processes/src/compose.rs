//! Composing a message from a template, for a person's request (the command
//! API) and for an automated rule alike: the built-in variables gathered
//! from the records a message is about, the template checked and rendered
//! in the sandbox, and a marketing message's unsubscribe link.

use aggregates::customer::Customer;
use aggregates::lead::Lead;
use aggregates::message_vars;
use aggregates::template::MessageTemplate;
use aggregates::tenant_profile::TenantProfile;
use event_schemas::TenantId;
use event_schemas::communication::{CommunicationType, TemplateRef};
use event_schemas::template::MessagePurpose;
use event_store::{CommandError, Stores};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Why a message could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A record the message refers to is not in the tenant (`field` names it).
    #[error("no such record {id} in this tenant")]
    Missing { field: &'static str, id: Uuid },
    /// The template is deactivated.
    #[error("the template is deactivated: no new message can use it")]
    Inactive,
    /// The template doesn't make messages on the channel.
    #[error("a {template_type} template can't make a {channel} message")]
    WrongChannel {
        template_type: String,
        channel: CommunicationType,
    },
    /// The variables don't fit the template (each field named).
    #[error("{0}")]
    Variables(aggregates::ValidationErrors),
    /// The template failed to render (its fault, or the renderer's).
    #[error("{0}")]
    Render(templating::TemplateError),
    /// Loading a record failed.
    #[error("{0}")]
    Store(String),
}

/// The records a message is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct About {
    pub customer: Option<Uuid>,
    pub lead: Option<Uuid>,
    pub quote: Option<Uuid>,
    pub invoice: Option<Uuid>,
    pub schedule: Option<Uuid>,
}

/// Loads `id` of aggregate `A` in `tenant`; missing (or another tenant's)
/// is [`ComposeError::Missing`] naming `field`.
pub async fn load<A>(
    stores: &Stores,
    tenant: &TenantId,
    field: &'static str,
    id: Uuid,
) -> Result<A, ComposeError>
where
    A: cqrs_es::Aggregate<Services = ()> + aggregates::TenantOwned + Clone + 'static,
    A::Error: aggregates::DomainError,
{
    match stores.get::<A>().load(tenant, id).await {
        Ok(loaded) => Ok(loaded.state().clone()),
        Err(CommandError::NotFound { .. }) => Err(ComposeError::Missing { field, id }),
        Err(e) => Err(ComposeError::Store(e.to_string())),
    }
}

/// The tenant's company as templates see it (`company`).
pub fn company(profile: &TenantProfile, tenant: &TenantId) -> Value {
    json!({
        "name": profile.company_name().unwrap_or(tenant.as_str()),
        "email_sender_name": profile.email_sender_name(),
        "email_sender_address": profile.email_sender_address(),
        "address": profile.address(),
        "time_zone": profile.time_zone_name(),
        "locale": profile.locale(),
    })
}

/// The built-in variables of a message about `about` (each record loaded
/// from the tenant, but the customer when the caller has it already), with
/// the tenant's company and the unsubscribe link.
pub async fn built_ins(
    stores: &Stores,
    tenant: &TenantId,
    profile: &TenantProfile,
    (about, loaded_customer): (&About, Option<&Customer>),
    unsubscribe_url: Option<&str>,
) -> Result<Map<String, Value>, ComposeError> {
    let mut vars = Map::new();
    vars.insert("company".into(), company(profile, tenant));
    vars.insert(
        "unsubscribe_url".into(),
        unsubscribe_url.map_or(Value::Null, |u| Value::String(u.to_owned())),
    );
    match (about.customer, loaded_customer) {
        (Some(id), Some(customer)) if customer.id == Some(id) => {
            vars.insert("customer".into(), message_vars::customer(customer));
        }
        (Some(id), _) => {
            let customer: Customer = load(stores, tenant, "customer_id", id).await?;
            vars.insert("customer".into(), message_vars::customer(&customer));
        }
        (None, _) => {}
    }
    if let Some(id) = about.lead {
        let lead: Lead = load(stores, tenant, "lead_id", id).await?;
        vars.insert("lead".into(), message_vars::lead(&lead));
    }
    if let Some(id) = about.quote {
        let quote: aggregates::quote::Quote = load(stores, tenant, "quote_id", id).await?;
        vars.insert("quote".into(), message_vars::quote(&quote));
    }
    if let Some(id) = about.invoice {
        let invoice: aggregates::invoice::Invoice = load(stores, tenant, "invoice_id", id).await?;
        vars.insert("invoice".into(), message_vars::invoice(&invoice));
    }
    if let Some(id) = about.schedule {
        let schedule: aggregates::schedule::Schedule =
            load(stores, tenant, "schedule_id", id).await?;
        vars.insert(
            "schedule".into(),
            message_vars::schedule(&schedule, profile.time_zone()),
        );
    }
    Ok(vars)
}

/// A template rendered for a message.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: Option<String>,
    pub content: String,
    pub purpose: MessagePurpose,
    pub template: TemplateRef,
    pub variables: Map<String, Value>,
}

/// Checks `template` (id `template_id`) for a message on `channel` and
/// renders it with the `given` variables over the `built_ins`.
pub async fn render(
    renderer: &templating::Renderer,
    template_id: Uuid,
    template: &MessageTemplate,
    channel: CommunicationType,
    given: Map<String, Value>,
    built_ins: Map<String, Value>,
) -> Result<Rendered, ComposeError> {
    let (Some(content), Some(template_type)) = (&template.content, template.template_type) else {
        return Err(ComposeError::Missing {
            field: "template_id",
            id: template_id,
        });
    };
    if !template.active {
        return Err(ComposeError::Inactive);
    }
    if !aggregates::rule::template_fits(template_type, channel) {
        return Err(ComposeError::WrongChannel {
            template_type: template_type.to_string(),
            channel,
        });
    }
    let variables = aggregates::template::message_variables(content, given, built_ins, false)
        .map_err(ComposeError::Variables)?;
    let source = templating::Source {
        subject: content.subject.clone(),
        content: content.content.clone(),
        escape: aggregates::template::escape_of(template_type),
    };
    let out = renderer
        .render(&source, &variables)
        .await
        .map_err(ComposeError::Render)?;
    Ok(Rendered {
        subject: out.subject,
        content: out.content,
        purpose: content.purpose,
        template: TemplateRef {
            template_id,
            template_version: template.version,
        },
        variables,
    })
}

const UNSUBSCRIBE: &str = "unsubscribe";

/// The unsubscribe link of message `communication` to `customer`:
/// `<public_url>/v1/unsubscribe/<tenant>.<customer>.<channel>.<message>.<tag>`,
/// the tag an HMAC only this tenant's key makes.
pub async fn unsubscribe_url(
    keystore: &keystore::KeyStore,
    public_url: &str,
    tenant: &TenantId,
    customer: Uuid,
    channel: CommunicationType,
    communication: Uuid,
) -> Result<String, keystore::KeyError> {
    let payload = format!(
        "{}.{}.{}.{}",
        tenant.as_str(),
        customer.simple(),
        channel.as_str(),
        communication.simple()
    );
    let tag = keystore
        .token_tag(tenant.as_str(), UNSUBSCRIBE, &payload)
        .await?;
    Ok(format!("{public_url}/v1/unsubscribe/{payload}.{tag}"))
}

/// A verified unsubscribe token: tenant, customer, channel, message.
pub async fn verify_unsubscribe(
    keystore: &keystore::KeyStore,
    token: &str,
) -> Option<(TenantId, Uuid, CommunicationType, Uuid)> {
    let (payload, tag) = token.rsplit_once('.')?;
    let mut parts = payload.split('.');
    let tenant = TenantId::parse(parts.next()?).ok()?;
    let customer = Uuid::try_parse(parts.next()?).ok()?;
    let channel: CommunicationType = parts.next()?.parse().ok()?;
    let message = Uuid::try_parse(parts.next()?).ok()?;
    if parts.next().is_some() {
        return None;
    }
    let valid = keystore
        .verify_token_tag(tenant.as_str(), UNSUBSCRIBE, payload, tag)
        .await
        .ok()?;
    valid.then_some((tenant, customer, channel, message))
}

/// Every marketing email carries its unsubscribe link: appended when the
/// content doesn't place it already.
pub fn with_unsubscribe_link(mut content: String, url: &str) -> String {
    if !content.contains(url) {
        let escaped = url
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        content.push_str(&format!(
            "\n<p style=\"font-size:small\"><a href=\"{escaped}\">Unsubscribe</a> from these emails.</p>\n"
        ));
    }
    content
}

/// The customer's address for `channel` (email, or phone for SMS and calls;
/// their name for a letter or in-app message).
pub fn customer_address(customer: &Customer, channel: CommunicationType) -> Option<String> {
    match channel {
        CommunicationType::Email => customer.email.clone(),
        CommunicationType::Sms | CommunicationType::PhoneCall => customer.phone.clone(),
        _ => Some(customer.full_name()),
    }
}

const OPEN: &str = "open";

fn open_payload(tenant: &TenantId, communication: Uuid) -> String {
    format!("{}.{}", tenant.as_str(), communication.simple())
}

/// The open-tracking pixel of email `communication` (a tenant setting, off
/// by default): an image whose URL carries a tag only this tenant's key
/// makes; loading it marks the message READ.
pub async fn open_pixel(
    keystore: &keystore::KeyStore,
    public_url: &str,
    tenant: &TenantId,
    communication: Uuid,
) -> Result<String, keystore::KeyError> {
    let tag = keystore
        .token_tag(tenant.as_str(), OPEN, &open_payload(tenant, communication))
        .await?;
    Ok(format!(
        "\n<img src=\"{public_url}/v1/communications/{communication}/open/{tag}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">\n"
    ))
}

/// Whether `tag` is the open-tracking tag of `communication` of `tenant`.
pub async fn verify_open(
    keystore: &keystore::KeyStore,
    tenant: &TenantId,
    communication: Uuid,
    tag: &str,
) -> bool {
    keystore
        .verify_token_tag(
            tenant.as_str(),
            OPEN,
            &open_payload(tenant, communication),
            tag,
        )
        .await
        .unwrap_or(false)
}
