//! Events of a message template (the seed's Template): the subject and
//! content a message is rendered from, the variables it declares, and
//! whether it may still be used. Every edit is a new version: a message
//! records the exact version it was rendered from, and the projection keeps
//! every version's text.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name stored with every template event.
pub const AGGREGATE_TYPE: &str = "MessageTemplate";

crate::common::wire_enum! {
    /// What a template is for (the seed's TemplateType). EMAIL content is
    /// HTML, escaped when rendered; the others are plain text.
    TemplateType {
        Email => "EMAIL",
        Sms => "SMS",
        Letter => "LETTER",
        Invoice => "INVOICE",
        Quote => "QUOTE",
        Report => "REPORT",
    }
}

crate::common::wire_enum! {
    /// Why a message is sent. MARKETING needs the recipient's consent on the
    /// channel (Canada's anti-spam law); TRANSACTIONAL (a quote, an invoice,
    /// a move reminder) does not.
    MessagePurpose {
        Transactional => "TRANSACTIONAL",
        Marketing => "MARKETING",
    }
}

/// A variable a template declares (beside the built-in ones).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct TemplateVariable {
    /// A name as the template uses it: letters, digits, `_`.
    pub name: String,
    /// A message can't be made from the template without it.
    pub required: bool,
    pub description: Option<String>,
    /// A value to preview the template with (any JSON).
    #[schema(value_type = Option<Object>)]
    pub example: Option<serde_json::Value>,
}

/// The editable part of a template: what every version holds in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateContent {
    pub name: String,
    /// Required for EMAIL; none for SMS.
    pub subject: Option<String>,
    pub content: String,
    pub variables: Vec<TemplateVariable>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// The purpose of the messages made from it (they may not change it).
    pub purpose: MessagePurpose,
}

/// A template was created: its version 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateCreated {
    pub tenant_id: TenantId,
    pub template_id: Uuid,
    pub template_type: TemplateType,
    #[serde(flatten)]
    pub content: TemplateContent,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A template was edited: `template_version` (2, 3, …) holds the complete
/// new text; the earlier versions stay as they were.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateRevised {
    pub template_version: u32,
    #[serde(flatten)]
    pub content: TemplateContent,
    /// The names of the fields that changed.
    pub changed_fields: Vec<String>,
    pub revised_by: Uuid,
    pub revised_at: DateTime<Utc>,
}

/// The template can't be used for new messages any more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateDeactivated {
    pub deactivated_by: Uuid,
    pub deactivated_at: DateTime<Utc>,
}

/// A deactivated template can be used again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateActivated {
    pub activated_by: Uuid,
    pub activated_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of a message template.
    MessageTemplateEvent for AGGREGATE_TYPE {
        TemplateCreated("1.0", "A message template was created (its version 1: name, type, subject, content, declared variables, description, category, tags, purpose)."),
        TemplateRevised("1.0", "A template was edited: the complete text of its new version and the names of the fields that changed."),
        TemplateDeactivated("1.0", "The template can no longer be used for new messages."),
        TemplateActivated("1.0", "A deactivated template can be used again."),
    }
}
